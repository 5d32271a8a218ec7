from matcher.cli import app

app(prog_name="matcher")
