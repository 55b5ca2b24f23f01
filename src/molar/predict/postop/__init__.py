"""Post-op risk: will a surgery (extraction, wisdom tooth, implant, periodontal surgery) have a
complication within 30 days? Two scores — at surgery from intake and history, at day 3 adding
the nurses' check calls — LightGBM trained on earlier surgeries, calibrated on a later window,
tested on one never seen (``evaluate``); ``watch`` is the nurses' list of open cases."""
