"""Read-side figures for people who run the chain: KPI definitions (``kpis``), shared by
the web console and the monthly operations report."""
