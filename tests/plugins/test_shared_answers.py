"""The triggers of one triggerer share one answer per question and poke interval (`SharedAnswers` in
plugins/event_log_model_trigger.py): a backfill's hundreds of build and model triggers ask the execution API a
few questions, not one request each."""

from __future__ import annotations

import asyncio

import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
import pytest
from event_log_model_trigger import SharedAnswers


class Asked:
    """A question's answerer that counts its requests; each takes `seconds` and answers its request number."""

    def __init__(self, seconds: float = 0.01, error: Exception | None = None):
        self.requests, self.seconds, self.error = 0, seconds, error

    async def __call__(self) -> int:
        self.requests += 1
        number = self.requests
        await asyncio.sleep(self.seconds)
        if self.error:
            raise self.error
        return number


def test_askers_within_the_interval_share_one_request():
    answers, asked = SharedAnswers(), Asked()

    async def ask_many():
        first = await asyncio.gather(*(answers.get("count", 60, asked) for _ in range(50)))
        again = await answers.get("count", 60, asked)  # answered a moment ago: the same answer
        return first, again

    first, again = asyncio.run(ask_many())
    assert (first, again, asked.requests) == ([1] * 50, 1, 1)


def test_an_answer_older_than_the_interval_is_asked_again_and_other_questions_apart():
    answers, counts, states = SharedAnswers(), Asked(), Asked()

    async def ask_over_time():
        seen = [await answers.get("count", 0.05, counts), await answers.get(("state", "run 1"), 0.05, states)]
        await asyncio.sleep(0.08)
        return [*seen, await answers.get("count", 0.05, counts)]

    assert asyncio.run(ask_over_time()) == [1, 1, 2]
    assert (counts.requests, states.requests) == (2, 1)


def test_a_failed_request_fails_its_askers_and_is_asked_again_next_time():
    answers, asked = SharedAnswers(), Asked(error=ConnectionError("API server restarting"))

    async def ask_twice():
        failures = await asyncio.gather(*(answers.get("count", 60, asked) for _ in range(3)), return_exceptions=True)
        asked.error = None
        return failures, await answers.get("count", 60, asked)

    failures, after = asyncio.run(ask_twice())
    assert [str(f) for f in failures] == ["API server restarting"] * 3
    assert (after, asked.requests) == (2, 2)


def test_a_cancelled_asker_leaves_the_request_to_the_others():
    answers, asked = SharedAnswers(), Asked(seconds=0.05)

    async def cancel_one():
        leaving = asyncio.ensure_future(answers.get("count", 60, asked))
        staying = asyncio.ensure_future(answers.get("count", 60, asked))
        await asyncio.sleep(0.01)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert asyncio.run(cancel_one()) == 1
    assert asked.requests == 1


def test_event_loops_do_not_share_answers():
    answers, asked = SharedAnswers(), Asked()
    assert [asyncio.run(answers.get("count", 60, asked)) for _ in range(2)] == [1, 2]
