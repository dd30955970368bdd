"""NOTIFY after commit (gridcrew.db.NotifyAfterCommit, the API's pooled connections):
sent only once the outermost transaction commits, never for what rolled back."""

import asyncio
import itertools
import os

import psycopg
import pytest

from gridcrew import db
from tests.conftest import SERVER_URL

_n = itertools.count()


@pytest.fixture
def channel() -> str:
    return f"gct_notify_{os.getpid()}_{next(_n)}"


@pytest.fixture
def listener(channel):
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f"LISTEN {channel}")
        yield conn


@pytest.fixture
def conn():
    with db.NotifyAfterCommit.connect(SERVER_URL, autocommit=True) as conn:
        yield conn


def heard(listener) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=0.3)]


def test_sent_after_the_commit_not_before(conn, listener, channel):
    with conn.transaction():
        db.notify(conn, channel, {"n": 1})
        with conn.transaction():  # a savepoint's notices wait for the outermost commit
            db.notify(conn, channel, {"n": 2})
        assert heard(listener) == []
    assert heard(listener) == ['{"n": 1}', '{"n": 2}']


def test_nothing_sent_for_a_rollback(conn, listener, channel):
    with pytest.raises(RuntimeError), conn.transaction():
        db.notify(conn, channel, {"n": 1})
        raise RuntimeError
    with conn.transaction():
        db.notify(conn, channel, {"n": 2})
        raise psycopg.Rollback
    with conn.transaction(force_rollback=True):
        db.notify(conn, channel, {"n": 3})
    assert heard(listener) == []
    with conn.transaction():  # nothing left over for the next transaction
        pass
    assert heard(listener) == []


def test_a_rolled_back_savepoint_drops_only_its_own(conn, listener, channel):
    with conn.transaction():
        db.notify(conn, channel, {"n": 1})
        with pytest.raises(ValueError), conn.transaction():
            db.notify(conn, channel, {"n": 2})
            raise ValueError
        with conn.transaction():
            db.notify(conn, channel, {"n": 3})
    assert heard(listener) == ['{"n": 1}', '{"n": 3}']


def test_outside_a_transaction_sent_at_once(conn, listener, channel):
    db.notify(conn, channel, {"n": 1})
    assert heard(listener) == ['{"n": 1}']


def test_a_plain_connection_notifies_inside_the_transaction(listener, channel):
    with psycopg.connect(SERVER_URL, autocommit=True) as plain, plain.transaction():
        db.notify(plain, channel, {"n": 1})
        assert heard(listener) == []
    assert heard(listener) == ['{"n": 1}']


def notes(channel: str, *numbers: int) -> db.Steps[None]:
    """Steps that only notify (gridcrew.db.Steps)."""
    for n in numbers:
        yield db.Notify(channel, {"n": n})


def on_async_conn(work) -> list[list[str]]:
    """Run *work* on an AsyncNotifyAfterCommit connection (the API's async pool's kind)."""

    async def main() -> list[list[str]]:
        async with await db.AsyncNotifyAfterCommit.connect(SERVER_URL, autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(main())


def test_async_connection_sends_after_the_commit_and_drops_a_rolled_back_savepoints(
    listener, channel
):
    async def work(conn) -> list[list[str]]:
        async with conn.transaction():
            await db.run_steps_async(conn, notes(channel, 1))
            with pytest.raises(ValueError):
                async with conn.transaction():
                    await db.run_steps_async(conn, notes(channel, 2))
                    raise ValueError
            async with conn.transaction():
                await db.run_steps_async(conn, notes(channel, 3))
            inside = heard(listener)
        return [inside, heard(listener)]

    assert on_async_conn(work) == [[], ['{"n": 1}', '{"n": 3}']]


def test_async_connection_sends_nothing_for_a_rollback_and_at_once_outside_one(listener, channel):
    async def work(conn) -> list[list[str]]:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await db.run_steps_async(conn, notes(channel, 1))
                raise RuntimeError
        async with conn.transaction(force_rollback=True):
            await db.run_steps_async(conn, notes(channel, 2))
        rolled_back = heard(listener)
        await db.run_steps_async(conn, notes(channel, 3))
        return [rolled_back, heard(listener)]

    assert on_async_conn(work) == [[], ['{"n": 3}']]


def test_steps_run_the_same_on_a_blocking_connection(conn, listener, channel):
    with conn.transaction():
        db.run_steps(conn, notes(channel, 1, 2))
        assert heard(listener) == []
    assert heard(listener) == ['{"n": 1}', '{"n": 2}']
