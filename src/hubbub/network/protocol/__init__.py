"""The hub protocol, sans-I/O: frames, operations, and the server and client machines.

Every client — an agent in the hub's process or in another one, a human, the CLI,
the inspector — talks to the hub with these frames. The two machines take frames
and return what to do; the drivers in :mod:`hubbub.network.transport` move the
frames (as objects in-process, encoded over a WebSocket).
"""

from __future__ import annotations

from hubbub.network.protocol.client import ClientProtocol
from hubbub.network.protocol.frames import decode_frame, encode_frame
from hubbub.network.protocol.ops import OPS
from hubbub.network.protocol.server import ServerProtocol

__all__ = ["OPS", "ClientProtocol", "ServerProtocol", "decode_frame", "encode_frame"]
