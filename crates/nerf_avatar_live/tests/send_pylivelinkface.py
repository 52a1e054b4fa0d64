"""Sends Live Link Face packets made by PyPI `pylivelinkface==0.1` to 127.0.0.1:PORT, for
tests/pylivelinkface.rs, and prints for each what it encoded, one line a packet:

    HEX DEVICE SUBJECT FRAME SUB_FRAME RATE_NUMERATOR RATE_DENOMINATOR V0 ... V60

HEX is the datagram sent. The values are those set, rounded to f32 as the packet carries
them; the frame time is what pylivelinkface's own decoder reads back (its encoder takes the
frame from the clock). pylivelinkface writes the device id without a length prefix, after a
'$' that stands for the low byte of the length of a 36-character id, so the device id on the
wire is the uuid without its '$'.

Usage: python send_pylivelinkface.py PORT COUNT
"""

import socket
import struct
import sys

from pylivelinkface import FaceBlendShape, PyLiveLinkFace

DEVICE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
SUBJECT = "pylivelinkface_test"


def as_f32(value):
    return struct.unpack("!f", struct.pack("!f", value))[0]


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for packet in range(count):
        face = PyLiveLinkFace(name=SUBJECT, uuid=DEVICE, fps=60)
        values = []
        for index in range(61):
            # Blendshapes in 0..1, rotations in -1..1, different in each packet.
            value = ((index * 7 + packet * 13) % 100) / 99.0
            if index >= 52:
                value = value * 2.0 - 1.0
            face.set_blendshape(FaceBlendShape(index), value, no_filter=True)
            values.append(as_f32(value))
        datagram = face.encode()
        sender.sendto(datagram, ("127.0.0.1", port))
        found, decoded = PyLiveLinkFace.decode(datagram)
        assert found
        fields = [
            datagram.hex(),
            face.uuid[1:],
            face.name,
            decoded._frames,
            repr(decoded._sub_frame),
            decoded.fps,
            decoded._denominator,
        ] + [repr(value) for value in values]
        print(" ".join(str(field) for field in fields))


if __name__ == "__main__":
    main()
