from carewatch.cli import app

app()
