"""A minimal Jupyter client on raw ZeroMQ sockets, for timing a kernel rather than jupyter_client's
threads: starts the kernel from its kernelspec with a connection file, then measures (1) process
start to kernel_info_reply and (2) the round trip of an execute_request (sent → execute_reply and
the idle status both received), over N executions after a warm-up.

  python kernel_client.py KERNEL_NAME CODE N  →  prints "start_ms median_ms p90_ms"
"""
import hashlib, hmac, json, os, socket, statistics, subprocess, sys, tempfile, time, uuid

import zmq
from jupyter_client.kernelspec import KernelSpecManager


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main():
    name, code, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spec = KernelSpecManager().get_kernel_spec(name)
    key = uuid.uuid4().hex
    shell, iopub, stdin, control, hb = free_ports(5)
    conn = {"transport": "tcp", "ip": "127.0.0.1", "shell_port": shell, "iopub_port": iopub, "stdin_port": stdin,
            "control_port": control, "hb_port": hb, "key": key, "signature_scheme": "hmac-sha256", "kernel_name": name}
    d = tempfile.mkdtemp()
    path = os.path.join(d, "kernel.json")
    json.dump(conn, open(path, "w"))
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    for s in (dealer, sub):
        s.setsockopt(zmq.RECONNECT_IVL, 1)   # retry the connect every millisecond while the kernel starts
        s.setsockopt(zmq.LINGER, 0)
    session = uuid.uuid4().hex

    def send(msg_type, content):
        header = json.dumps({"msg_id": uuid.uuid4().hex, "session": session, "username": "bench", "date": "2026-01-01T00:00:00Z",
                             "msg_type": msg_type, "version": "5.3"}).encode()
        parts = [header, b"{}", b"{}", json.dumps(content).encode()]
        sig = hmac.new(key.encode(), b"".join(parts), hashlib.sha256).hexdigest().encode()
        dealer.send_multipart([b"<IDS|MSG>", sig] + parts)
        return json.loads(header)["msg_id"]

    def parse(frames):
        i = frames.index(b"<IDS|MSG>")
        return json.loads(frames[i + 2]), json.loads(frames[i + 3]), json.loads(frames[i + 5])

    argv = [a.replace("{connection_file}", path) for a in spec.argv]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # as jupyter_client does: the kernelspec means this environment's Python
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dealer.connect(f"tcp://127.0.0.1:{shell}")
    sub.connect(f"tcp://127.0.0.1:{iopub}")
    msg_id = send("kernel_info_request", {})
    while True:
        header, parent, _ = parse(dealer.recv_multipart())
        if parent.get("msg_id") == msg_id:
            break
    start = time.perf_counter() - t0
    # IOPub is a PUB socket: wait until our subscription is through before timing executions.
    while True:
        mid = send("kernel_info_request", {})
        if sub.poll(100):
            break
        dealer.recv_multipart()
    while sub.poll(50):
        sub.recv_multipart()
    while dealer.poll(50):
        dealer.recv_multipart()
    times = []
    for i in range(n + 20):
        t = time.perf_counter()
        mid = send("execute_request", {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                                       "allow_stdin": False, "stop_on_error": True})
        replied = idle = False
        while not (replied and idle):
            if not replied and dealer.poll(0):
                header, parent, _ = parse(dealer.recv_multipart())
                replied = parent.get("msg_id") == mid
            if not idle and sub.poll(0):
                header, parent, content = parse(sub.recv_multipart())
                idle = parent.get("msg_id") == mid and header["msg_type"] == "status" and content["execution_state"] == "idle"
            if not (replied and idle):
                zmq.select([dealer, sub], [], [], 1)
        if i >= 20:
            times.append(time.perf_counter() - t)
    send("shutdown_request", {"restart": False})
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    times.sort()
    print(f"{start * 1000:.2f} {statistics.median(times) * 1000:.3f} {times[int(0.9 * len(times))] * 1000:.3f}")


if __name__ == "__main__":
    main()
