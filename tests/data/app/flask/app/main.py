"""Test fixture: a minimal Flask app that hardbase's tests build into an image and query."""

import os
import sys

import markupsafe
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return (
        f"hello from flask on python {sys.version_info.major}.{sys.version_info.minor}, "
        f"uid {os.getuid()}, markupsafe speedups {markupsafe._speedups.__name__}\n"
    )


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    if os.environ.get("SERVE_ONE_REQUEST"):  # the tests' mode: answer once, then exit
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, app).handle_request()
    else:
        app.run(host="127.0.0.1", port=port)
