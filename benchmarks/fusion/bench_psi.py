"""ECDH-PSI, N x N keys, two processes over loopback: DataCompact's rounds against OpenMined's PSI.

    PYTHONPATH=src .venv/bin/python benchmarks/fusion/bench_psi.py [--size 1000000] [--peer-size N]

Each side is its own process; they talk over a TCP socket on 127.0.0.1
(``multiprocessing.connection``), so every point crosses the loopback as it
would between two machines. The keys are 18-digit resident-ID-shaped
strings, already canonical (normalization is measured by the tests' path,
not here), and half of the requester's keys are the holder's.

* DataCompact: the rounds of :mod:`datacompact.fusion.psi` with the group
  operations of :mod:`datacompact.privacy.psi` (X25519 through
  libsodium), 2 worker processes per side: the holder blinds and shuffles its
  keys; the requester blinds its own, shuffled, and raises the holder's; the
  holder raises the requester's and matches.
* OpenMined ``openmined-psi`` (P-256, the ``bench`` extra), the same two
  processes: the server's setup message (raw encrypted set), the client's
  request, the server's response, the client's intersection. It runs single
  threaded, as the library does.

Target: at most 60 s for 1,000,000 x 1,000,000 on 2 cores. The ratio printed
is OpenMined's wall time over DataCompact's (above 1: DataCompact is faster).
``--peer-size`` runs the peer on a smaller set and scales its time linearly
(both protocols do O(n) group operations), for a shared machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Callable
from multiprocessing import Process
from multiprocessing.connection import Client, Connection, Listener

from datacompact.privacy import psi as group

AUTH = secrets.token_bytes(16)


def keys(n: int, offset: int) -> list[str]:
    return [f"{110105000000000000 + offset + i:018d}" for i in range(n)]


def sets(n: int) -> tuple[list[str], list[str]]:
    """The holder's n keys and the requester's n keys, half of them shared."""
    return keys(n, 0), keys(n, n // 2)


# DataCompact ---------------------------------------------------------------


def dc_holder(address: tuple[str, int], n: int) -> None:
    holder, _ = sets(n)
    with Listener(address, authkey=AUTH) as listener, listener.accept() as conn:
        context, scalar = group.new_context(), group.new_scalar()
        conn.send_bytes(context)
        blinded = group.shuffled(group.blind(context, scalar, holder, workers=2))
        conn.send_bytes(group.encode_points(blinded))
        raised = set(group.decode_points(conn.recv_bytes(), limit=n))
        theirs = group.decode_points(conn.recv_bytes(), limit=n)
        doubled = group.exponentiate(scalar, theirs, workers=2)
        matches = [i for i, p in enumerate(doubled) if p in raised]
        conn.send(len(matches))


def dc_requester(address: tuple[str, int], n: int, conn: Connection) -> int:
    _, mine = sets(n)
    context = conn.recv_bytes()
    theirs = group.decode_points(conn.recv_bytes(), limit=n)
    scalar = group.new_scalar()
    order = group.shuffled(mine)
    conn.send_bytes(group.encode_points(group.exponentiate(scalar, theirs, workers=2)))
    conn.send_bytes(group.encode_points(group.blind(context, scalar, order, workers=2)))
    found: int = conn.recv()
    return found


# OpenMined -----------------------------------------------------------------


def om_server(address: tuple[str, int], n: int) -> None:
    import private_set_intersection.python as psi

    holder, _ = sets(n)
    server = psi.server.CreateWithNewKey(True)
    with Listener(address, authkey=AUTH) as listener, listener.accept() as conn:
        count = conn.recv()
        setup = server.CreateSetupMessage(0.0, count, holder, psi.DataStructure.RAW)
        conn.send_bytes(setup.SerializeToString())
        request = psi.Request()
        request.ParseFromString(conn.recv_bytes())
        conn.send_bytes(server.ProcessRequest(request).SerializeToString())


def om_client(n: int, conn: Connection) -> int:
    import private_set_intersection.python as psi

    _, mine = sets(n)
    client = psi.client.CreateWithNewKey(True)
    conn.send(len(mine))
    setup = psi.ServerSetup()
    setup.ParseFromString(conn.recv_bytes())
    conn.send_bytes(client.CreateRequest(mine).SerializeToString())
    response = psi.Response()
    response.ParseFromString(conn.recv_bytes())
    return len(client.GetIntersection(setup, response))


def timed(
    server: Callable[..., None], client: Callable[..., int], n: int, port: int
) -> tuple[float, int]:
    address = ("127.0.0.1", port)
    process = Process(target=server, args=(address, n))
    process.start()
    for _ in range(100):
        try:
            conn = Client(address, authkey=AUTH)
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    else:
        raise SystemExit("the holder's process did not listen")
    started = time.perf_counter()
    with conn:
        found = dc_requester(address, n, conn) if client is dc_requester else om_client(n, conn)
    elapsed = time.perf_counter() - started
    process.join()
    return elapsed, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--peer-size", type=int, default=None)
    args = parser.parse_args()
    n, peer_n = args.size, args.peer_size or args.size
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    ours, found = timed(dc_holder, dc_requester, n, 47311)
    assert found == n - n // 2, found
    print(
        f"DataCompact ECDH-PSI ({group.GROUP}, 2 workers/side): {n:,} x {n:,} keys in "
        f"{ours:.1f} s, intersection {found:,}; target <= 60 s for 1,000,000 x 1,000,000 "
        f"({'met' if n >= 1_000_000 and ours <= 60 else 'not met' if n >= 1_000_000 else 'n/a'})",
        flush=True,
    )
    print(f"load average after ours: {os.getloadavg()[0]:.2f}", flush=True)
    peer, peer_found = timed(om_server, om_client, peer_n, 47312)
    assert peer_found == peer_n - peer_n // 2, peer_found
    scaled = peer * n / peer_n
    print(
        f"OpenMined openmined-psi (P-256, 1 thread): {peer_n:,} x {peer_n:,} keys in {peer:.1f} s"
        + (f" (scaled to {n:,}: {scaled:.1f} s)" if peer_n != n else ""),
        flush=True,
    )
    print(f"ratio OpenMined / DataCompact: {scaled / ours:.2f}x", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
