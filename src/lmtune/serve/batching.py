"""Dynamic micro-batching: concurrent requests are gathered into one model call (up to
max_batch texts), run off the event loop, and split back.

A request never waits for company it does not have: each model call takes what queued up while
the previous one ran (so batches grow with load by themselves); max_wait > 0 adds a wait for
more, trading latency at low load for larger batches."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable


class MicroBatcher:
    def __init__(self, predict: Callable[[list[str]], list], max_batch: int = 32, max_wait_s: float = 0.01,
                 on_batch: Callable[[int], None] = lambda size: None):
        self.predict, self.max_batch, self.max_wait_s, self.on_batch = predict, max_batch, max_wait_s, on_batch
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmtune-model")  # one model call at a time

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def submit(self, texts: list[str]) -> list:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self.task is None:
            return
        await self.queue.join()
        self.task.cancel()
        self.executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            size = len(items[0][0])
            deadline = loop.time() + self.max_wait_s
            while size < self.max_batch:
                if not self.queue.empty():
                    items.append(self.queue.get_nowait())
                elif (left := deadline - loop.time()) > 0:
                    try:
                        items.append(await asyncio.wait_for(self.queue.get(), left))
                    except asyncio.TimeoutError:
                        break
                else:
                    break
                size += len(items[-1][0])
            texts = [t for batch, _ in items for t in batch]
            self.on_batch(len(texts))
            try:
                results = await loop.run_in_executor(self.executor, self.predict, texts)
            except Exception:
                # one request's texts must not fail the others it was batched with: each alone again,
                # so the failure reaches only the request that caused it
                for batch, future in items:
                    await self._alone(loop, batch, future)
            else:
                start = 0
                for batch, future in items:
                    if not future.done():
                        future.set_result(results[start:start + len(batch)])
                    start += len(batch)
            for _ in items:
                self.queue.task_done()

    async def _alone(self, loop, texts: list[str], future) -> None:
        try:
            result = await loop.run_in_executor(self.executor, self.predict, texts)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)
