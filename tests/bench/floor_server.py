"""The floor: the bare handler plus the least the rules ask before answering.

The bare handler's work (read the form, check the signature), then one Fernet token of
sender and text, committed to SQLite with a unique MessageSid (group commit, as the
inbox does) before the answer. No validation, no number, no lexicon, no pseudonym: what
a webhook costs that stores before acknowledging and never stores a text in clear.
``bench_sms.py --floor`` measures it beside the bare handler and the service.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from collections.abc import AsyncIterator

from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet
from twilio.request_validator import RequestValidator

from helpline.settings import DEVELOPMENT_AUTH_TOKEN

INSERT = "INSERT INTO inbox (sid, payload) VALUES (?, ?) ON CONFLICT DO NOTHING"


def make_app(public_url: str, database: str,
             auth_token: str = DEVELOPMENT_AUTH_TOKEN) -> web.Application:
    """Return an app whose ``POST /twilio/sms`` stores one encrypted row, then answers."""
    validator = RequestValidator(auth_token)
    public_url = public_url.rstrip("/")
    cipher = MultiFernet([Fernet(Fernet.generate_key())])
    waiting: list[tuple[str, str, asyncio.Future[None]]] = []
    has_waiting = asyncio.Event()

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(f"{public_url}{request.rel_url}", form, signature):
            return web.Response(status=403, text="invalid Twilio signature\n")
        token = cipher.encrypt(f"{form['From']}\n{form['Body']}".encode()).decode()
        done = asyncio.get_running_loop().create_future()
        waiting.append((str(form["MessageSid"]), token, done))
        has_waiting.set()
        await done
        return web.Response(text="<Response/>", content_type="text/xml")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def writer(conn: sqlite3.Connection) -> None:
        while True:
            await has_waiting.wait()
            has_waiting.clear()
            while waiting:
                batch = waiting[:500]
                del waiting[:500]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(INSERT, [(sid, token) for sid, token, _ in batch])
                conn.execute("COMMIT")
                for *_, done in batch:
                    done.set_result(None)

    async def storage(_app: web.Application) -> AsyncIterator[None]:
        conn = sqlite3.connect(database, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS inbox "
                     "(id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, payload TEXT NOT NULL)")
        task = asyncio.create_task(writer(conn))
        yield
        task.cancel()
        conn.close()

    app = web.Application()
    app.router.add_post("/twilio/sms", sms)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(storage)
    return app


def main() -> None:
    """Serve the floor handler on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-url", required=True)
    parser.add_argument("--database", required=True, help="a SQLite file of its own")
    args = parser.parse_args()
    web.run_app(make_app(args.public_url, args.database), host="127.0.0.1", port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
