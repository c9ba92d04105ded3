#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""An independent verifier of octospool's sealed audit log (AT-01).

Written from doc/AUDIT.md, sharing no code with lib/auditlog.c: frames,
CRC-32C, leaf and chain hashes, RFC 6962 roots by the recursive
definition, C2SP signed-note checkpoints and KEYCERT chains verified
with python3-cryptography.  Usage: audit_verify.py VKEYFILE LOGDIR
Prints "PASS <roots checked> <records>" (exit 0) or "FAIL ..." (exit 1).
"""
import base64
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c_fast(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01", mth(leaves[:k]), mth(leaves[k:]))


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def verify_sig(pk, msg, sig):
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except Exception:
        return False


def keyid(name, pk):
    return sha(name.encode() + b"\n\x01" + pk)[:4]


def main():
    vkey = open(sys.argv[1]).read().strip()
    name, kid, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1
    pks = [raw[1:]]
    assert keyid(name, pks[0]).hex() == kid
    log_id = bytes.fromhex(name.rsplit("/", 1)[1])
    segdir = os.path.join(sys.argv[2], "seg")
    names = sorted(f for f in os.listdir(segdir) if f.endswith(".seg"))
    chain = sha(b"octo-audit/v1 chain", log_id)
    leaves = []
    epoch = 0
    pending = None
    roots = 0
    records = 0
    prev = b"\0" * 32
    for fn in names:
        data = open(os.path.join(segdir, fn), "rb").read()
        if data[:8] != b"OCTOASEG" or crc32c(data[:76]) != struct.unpack(">I", data[76:80])[0]:
            fail("bad header " + fn)
        if data[12:28] != log_id:
            fail("foreign segment " + fn)
        if struct.unpack(">Q", data[36:44])[0] != len(leaves) or data[44:76] != prev:
            fail("segment link " + fn)
        pos = 80
        while pos < len(data):
            if data[pos:pos + 4] != b"OAF1":
                fail("magic at %s:%d" % (fn, pos))
            blen = struct.unpack(">I", data[pos + 4:pos + 8])[0]
            end = pos + 8 + blen + 36
            if end > len(data):
                fail("short frame at %s:%d" % (fn, pos))
            frame = data[pos:end]
            if crc32c_fast(frame[:-4]) != struct.unpack(">I", frame[-4:])[0]:
                fail("crc at %s:%d" % (fn, pos))
            body = frame[8:8 + blen]
            stored_chain = frame[8 + blen:8 + blen + 32]
            ftype = body[0]
            seq = struct.unpack(">Q", body[4:12])[0]
            srclen = struct.unpack(">H", body[32:34])[0]
            payload = body[34 + srclen:]
            if ftype == 16:
                text = payload.decode()
                bodytxt, sigs = text.split("\n\n", 1)
                bodytxt += "\n"
                lines = bodytxt.split("\n")
                if lines[0] != name:
                    fail("origin")
                size = int(lines[1])
                root = base64.b64decode(lines[2])
                cepoch = int(lines[3].split(" ")[1])
                cchain = base64.b64decode(lines[4].split(" ")[1])
                cprev = base64.b64decode(lines[5].split(" ")[1])
                if size != len(leaves) or seq != size:
                    fail("size at checkpoint %d" % size)
                if mth(leaves) != root:
                    fail("root at checkpoint %d" % size)
                if cchain != chain or cprev != prev or cepoch != epoch:
                    fail("chain/prev/epoch at checkpoint %d" % size)
                ok = False
                for line in sigs.strip("\n").split("\n"):
                    dash, sname, sb = line.split(" ")
                    if dash != "\u2014" or sname != name:
                        continue
                    sraw = base64.b64decode(sb)
                    if sraw[:4] == keyid(name, pks[epoch]) and \
                            verify_sig(pks[epoch], bodytxt.encode(), sraw[4:]):
                        ok = True
                if not ok:
                    fail("signature at checkpoint %d (epoch %d)" % (size, epoch))
                roots += 1
                prev = sha(bodytxt.encode())
                if pending is not None:
                    pks.append(pending)
                    epoch += 1
                    pending = None
            else:
                if seq != len(leaves):
                    fail("seq %d" % seq)
                leaf = sha(b"\x00octo-audit/v1\x00", body)
                chain = sha(b"\x02", chain, leaf)
                if chain != stored_chain:
                    fail("chain at seq %d" % seq)
                leaves.append(leaf)
                if ftype == 1:
                    records += 1
                if ftype == 2:
                    t = payload.decode()
                    kv = dict(line.split(" ", 1) for line in t.strip("\n").split("\n")[1:])
                    signed = t[:t.index("sig ")]
                    if int(kv["epoch"]) != epoch + 1 or \
                            not verify_sig(pks[epoch], signed.encode(), base64.b64decode(kv["sig"])):
                        fail("keycert at seq %d" % seq)
                    pending = base64.b64decode(kv["key"])
                if ftype == 6:
                    # RECOVERY version 2: sealing went on with the
                    # pending key (its handover checkpoint was lost).
                    kv = dict(line.split(" ", 1) for line in
                              payload.decode().strip("\n").split("\n")[1:])
                    if "epoch_switch" in kv:
                        if pending is None or int(kv["epoch_switch"]) != epoch + 1:
                            fail("recovery epoch_switch at seq %d" % seq)
                        pks.append(pending)
                        epoch += 1
                        pending = None
            pos = end
    if roots == 0:
        fail("no checkpoint")
    print("PASS %d %d" % (roots, records))


if __name__ == "__main__":
    main()
