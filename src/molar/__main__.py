from molar.cli import app

app(prog_name="molar")
