"""One burst in one room of a running server: its figures, and the memory it took."""

import asyncio
import threading

import psutil

from harness.load import chat_burst, inbox_faults

RUN_TIMEOUT = 30  # seconds for one run's messages to arrive
ROOM = "bench"


class PeakMemory(threading.Thread):
    """Samples the resident memory of server processes and their children,
    summed, until stopped."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self.stopped = threading.Event()

    def sample(self):
        try:
            family = [
                member
                for process in self.processes
                for member in (process, *process.children(recursive=True))
            ]
            self.peak = max(self.peak, sum(p.memory_info().rss for p in family))
        except psutil.NoSuchProcess:
            pass

    def run(self):
        self.sample()
        while not self.stopped.wait(0.05):  # a sampling interval, not a wait
            self.sample()

    def stop_mb(self):
        self.stopped.set()
        self.join()
        self.sample()
        return self.peak / 2**20


def percentile(values, fraction):
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else 0


def measure_burst(urls, pids, clients, messages_each) -> dict:
    """N clients in the room ROOM of the server at `urls` (a StageUrls), each
    sending M messages at once; pids: the server's processes, for memory."""
    memory = PeakMemory(pids)
    memory.start()
    try:
        burst = asyncio.run(
            chat_burst(
                urls.socket_url(ROOM),
                urls.origin,
                clients,
                messages_each,
                timeout=RUN_TIMEOUT,
            )
        )
    finally:
        peak_rss_mb = memory.stop_mb()
    faults = [inbox_faults(inbox, clients * messages_each) for inbox in burst.received]
    latencies = sorted(latency for inbox in burst.received for *_, latency in inbox)
    return {
        "deliveries_per_s": len(latencies) / burst.seconds,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "lost": sum(lost for lost, _, _ in faults),
        "duplicated": sum(duplicated for _, duplicated, _ in faults),
        "peak_rss_mb": peak_rss_mb,
    }
