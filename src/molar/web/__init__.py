"""The web console served by ``molar serve`` under ``/console``: sign-in, the overview
dashboard and patient 360, in zh-CN (default) and en, with every asset bundled."""
