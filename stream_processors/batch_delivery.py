"""Faust's Kafka consumer, handing each fetched batch to the streams under one flow-control wait.

Faust's fetcher (``Consumer._drain_messages``) hands every fetched record to the streams inside
``wait_first(callback(message), suspend_flow.wait())``, so that a rebalance can interrupt a put
that waits on a full stream buffer. ``wait_first`` starts four tasks and an ``asyncio.wait`` per
message, which on 20-event usage messages costs more than metering them. Here one such wait
covers all the records of one fetch: the records are handed over in the same order, with the same
read-offset, gap and commit bookkeeping, and the same flow and generation checks before each
record; a rebalance still cancels the hand-over wherever it waits. Commits that fall due are made
between hand-overs, never inside the cancellable one.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, TransportT
from mode import Service
from mode.services import ServiceT

_YIELD_EVERY = 100  # records handed over between two yields to the event loop (Faust's figure)


class BatchDeliveryConsumer(aiokafka_driver.Consumer):
    """The aiokafka consumer with a fetch loop that waits on flow control once per fetch, not per record."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover  (runs in the worker)
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = [pair async for pair in self.getmany(timeout=1.0)]
                generation = self.app.consumer_generation_id
                await self.sleep(0)  # as Faust: a loop of empty fetches must still let others run
                start = 0
                while start < len(fetched) and not self.should_stop:
                    deliver = self._deliver(fetched, start, generation)
                    waited = await self.wait_first(deliver, self.suspend_flow.wait())
                    if deliver not in waited.done:
                        break  # flow suspended (rebalance) or the consumer stopped: the rest is refetched
                    start = waited.results[waited.done.index(deliver)]
                    if start < len(fetched):  # a commit fell due before record ``start``
                        self._n_acked = 0
                        await self.commit()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, fetched: Sequence[tuple[TP, Any]], start: int, generation: int) -> int:
        """Hand ``fetched[start:]`` to the streams; the index where a due commit stopped it, else the length."""
        callback, read_offset = self.callback, self._read_offset
        commit_every = self._commit_every
        app = self.app
        for i in range(start, len(fetched)):
            if not self.flow_active or app.consumer_generation_id != generation:
                return len(fetched)  # what getmany checks between records: stop handing this fetch over
            if i > start and (i - start) % _YIELD_EVERY == 0:
                await self.sleep(0)
            tp, message = fetched[i]
            offset = message.offset
            r_offset = read_offset.get(tp)
            if r_offset is None or offset >= r_offset:
                if r_offset and offset - r_offset > 1 and app.topics.acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                if commit_every is not None and self._n_acked >= commit_every and i > start:
                    return i
                await callback(message)
                read_offset[tp] = offset
            else:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
        return len(fetched)


class BatchDeliveryTransport(aiokafka_driver.Transport):
    """The aiokafka transport with :class:`BatchDeliveryConsumer`."""

    Consumer = BatchDeliveryConsumer


class MeteringApp(faust.App):
    """The Faust app of the processor: consumes through :class:`BatchDeliveryTransport`."""

    def _new_transport(self) -> TransportT:
        return BatchDeliveryTransport(self.conf.broker_consumer, self)
