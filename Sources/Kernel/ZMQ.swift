import CZMQ
import Foundation

/// A thin layer over libzmq: one context, sockets that send and receive multipart messages as
/// lists of byte strings. A socket is used by one thread at a time (libzmq's rule); the kernel
/// guards the one socket several threads publish on with a lock.
final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    init() throws {
        guard let h = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        handle = h
    }

    func socket(_ type: Int32) throws -> ZMQSocket {
        guard let s = zmq_socket(handle, type) else { throw ZMQError.last("zmq_socket") }
        return ZMQSocket(s)
    }

    /// Makes every blocking call on the context's sockets return ETERM, so their threads can end.
    func shutdown() { zmq_ctx_shutdown(handle) }
}

struct ZMQError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    var description: String { "\(call): \(String(cString: zmq_strerror(code)))" }
    static func last(_ call: String) -> ZMQError { ZMQError(call: call, code: squeeze_zmq_errno()) }
    var interrupted: Bool { code == EINTR }
    var terminated: Bool { code == ETERM }
}

final class ZMQSocket: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    init(_ handle: UnsafeMutableRawPointer) {
        self.handle = handle
        var linger: Int32 = 0  // closing never waits for unsent messages
        zmq_setsockopt(handle, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
    }

    /// Binds to `transport://ip:port`; port 0 asks for a free port, returned.
    func bind(transport: String, ip: String, port: Int) throws -> Int {
        let endpoint = transport == "ipc" ? "ipc://\(ip)-\(port)" : "\(transport)://\(ip):\(port == 0 ? "*" : String(port))"
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
        guard port == 0 else { return port }
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        let bound = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return bound.split(separator: ":").last.flatMap { Int($0) } ?? 0
    }

    /// Sends every frame, all but the last with ZMQ_SNDMORE.
    func send(_ frames: [[UInt8]]) throws {
        for (i, frame) in frames.enumerated() {
            let flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            while true {
                let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
                if rc >= 0 { break }
                let e = ZMQError.last("zmq_send")
                if !e.interrupted { throw e }
            }
        }
    }

    /// Receives one whole multipart message; waits at most `timeout` milliseconds (-1: forever) for
    /// its first frame and returns nil when none came.
    func receive(timeout: Int = -1) throws -> [[UInt8]]? {
        if timeout >= 0 {
            var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            let n = zmq_poll(&item, 1, timeout)
            if n < 0 {
                let e = ZMQError.last("zmq_poll")
                if e.interrupted { return nil }
                throw e
            }
            if n == 0 { return nil }
        }
        var frames: [[UInt8]] = []
        var more: Int32 = 1
        while more != 0 {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            if zmq_msg_recv(&msg, handle, 0) < 0 {
                let e = ZMQError.last("zmq_msg_recv")
                if e.interrupted { continue }
                throw e
            }
            let size = zmq_msg_size(&msg)
            if let data = zmq_msg_data(&msg), size > 0 {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            more = zmq_msg_more(&msg)
        }
        return frames
    }

    func close() { zmq_close(handle) }
}
