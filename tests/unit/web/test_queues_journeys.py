"""The work queue's SLA colours at their edges and the journey diagram's layout."""

from datetime import datetime, timedelta

from molar.automation import load_catalogue
from molar.web.i18n import Locale
from molar.web.journeys import diagram
from molar.web.queues import sla

NOW = datetime(2026, 11, 23, 10, 0)


def test_sla_colours_at_their_edges():
    assert sla(NOW - timedelta(seconds=1), "open", NOW) == "overdue"
    assert sla(NOW, "open", NOW) == "due_soon"
    assert sla(NOW + timedelta(hours=1), "open", NOW) == "due_soon"
    assert sla(NOW + timedelta(hours=1, seconds=1), "open", NOW) == "on_time"
    assert sla(NOW - timedelta(days=3), "done", NOW) == "done"


def test_diagram_goes_down_in_written_order_and_jumps_round_branches():
    rule = load_catalogue().get("implant_follow_up")
    d = diagram(rule, "en", Locale("en").t)
    ids = [n["id"] for n in d.nodes]
    assert ids[:7] == ["trigger", "0", "1", "2", "3", "3.then.0", "3.then.1"] and ids[-2:] == ["11.then.1", "11.else.0"]
    depth = {n["id"]: n["depth"] for n in d.nodes}
    assert depth["3"] == 0 and depth["3.then.0"] == 1 and depth["11.else.0"] == 1
    # Straight arrows have two points; a branch's "no" (to step 4, four rows on) goes round the side.
    labelled = [(e["label"], len(e["points"].split())) for e in d.edges if e["label"]]
    assert labelled.count(("yes", 2)) == 3 and labelled.count(("no", 4)) == 3
    assert all(n["short"].endswith("…") or n["short"] == n["label"] for n in d.nodes)
    assert d.width > max(n["x"] for n in d.nodes) + d.box_width
