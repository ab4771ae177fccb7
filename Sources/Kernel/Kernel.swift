import CZMQ
import Foundation
import REPL
import Recipe
import SqueezeCore

/// squeeze as a Jupyter kernel (messaging protocol 5.3 over ZeroMQ): one interpreter whose
/// variables persist across cells, recorded in the history as a `notebook` run like a REPL session.
///
/// Threads: the shell socket is served on the calling thread, one request at a time (cells run in
/// order); control and heartbeat have a thread each, so `interrupt_request` and `shutdown_request`
/// are answered while a cell runs. IOPub is written from the shell and control threads under a lock.
public final class Kernel: @unchecked Sendable {
    public struct Options {
        public var seed: UInt64?
        /// Where cells may write (default: the working directory, the notebook's folder).
        public var outputDirectory: URL?
        public var allowedWriteDirectories: [URL] = []
        public var recording: SessionRecording?
        /// Where refused messages and other kernel events are logged (stderr by default).
        public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("squeeze kernel: " + $0 + "\n").utf8)) }
        public init() {}
    }

    let connection: ConnectionInfo
    let signer: Signer
    let context: ZMQContext
    let shell: ZMQSocket
    let control: ZMQSocket
    let stdin: ZMQSocket
    let iopub: ZMQSocket
    let heartbeat: ZMQSocket
    let iopubLock = NSLock()
    let log: @Sendable (String) -> Void
    /// The session id in every header this kernel sends.
    let sessionID = UUID().uuidString.lowercased()

    let session: Interpreter
    let cancellation = CancellationToken.shared
    let recording: SessionRecording?
    let initialSeed: UInt64
    /// The session's run in the history, started by its first cell.
    var recorder: SessionRun?
    /// Forwards what the interpreter reports to the recorder and turns plots into display_data.
    let display = CellObserver()
    var executionCount = 0
    /// Cells run with `store_history`, for `history_request`: (count, code, plain-text output).
    var inputs: [(count: Int, code: String, output: String)] = []
    /// Set by `shutdown_request`; the shell loop ends when it sees it.
    let stopping = Flag()

    public init(connection: ConnectionInfo, options: Options) throws {
        self.connection = connection
        signer = Signer(key: connection.key)
        log = options.log
        context = try ZMQContext()
        shell = try context.socket(ZMQ_ROUTER)
        control = try context.socket(ZMQ_ROUTER)
        stdin = try context.socket(ZMQ_ROUTER)
        iopub = try context.socket(ZMQ_PUB)
        heartbeat = try context.socket(ZMQ_REP)
        // Bound to the connection file's address only (127.0.0.1 when Jupyter starts us locally).
        let c = connection
        _ = try shell.bind(transport: c.transport, ip: c.ip, port: c.shellPort)
        _ = try control.bind(transport: c.transport, ip: c.ip, port: c.controlPort)
        _ = try stdin.bind(transport: c.transport, ip: c.ip, port: c.stdinPort)
        _ = try iopub.bind(transport: c.transport, ip: c.ip, port: c.iopubPort)
        _ = try heartbeat.bind(transport: c.transport, ip: c.ip, port: c.heartbeatPort)

        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let sandbox = Sandbox(
            baseDirectory: cwd, outputDirectory: options.outputDirectory, allowedWriteDirectories: options.allowedWriteDirectories,
            protectedFiles: options.recording?.protectedFiles ?? [])
        session = Interpreter(seed: options.seed, sandbox: sandbox)
        initialSeed = session.seed
        recording = options.recording
        session.laterParametersOverride = true
        session.displayWidth = 100
        session.observer = display
    }

    /// Serves until `shutdown_request`; returns the exit status.
    public func run() -> Int32 {
        defer { session.reset() }
        Thread.detachNewThread { [self] in serveHeartbeat() }
        Thread.detachNewThread { [self] in serve(control, name: "control") }
        publish(Message(type: "status", parent: nil, session: sessionID, content: ["execution_state": "starting"]))
        serve(shell, name: "shell")
        return 0
    }

    // MARK: - Sockets

    /// The heartbeat is an echo: whatever arrives goes straight back. Between beats it watches the
    /// process that started the kernel: when that is gone (the kernel was re-parented), nobody can
    /// shut the kernel down, so it ends the session and exits, as ipykernel's parent poller does.
    func serveHeartbeat() {
        let parent = getppid()
        while !stopping.isSet {
            if parent != 1 && getppid() != parent {
                log("the process that started the kernel is gone; ending the session")
                shutdown()
                exit(0)
            }
            guard let frames = try? heartbeat.receive(timeout: 500) else { continue }
            try? heartbeat.send(frames)
        }
    }

    /// Receives, checks and answers requests on `socket` until shutdown.
    func serve(_ socket: ZMQSocket, name: String) {
        while !stopping.isSet {
            let frames: [[UInt8]]
            do {
                guard let f = try socket.receive(timeout: 200) else { continue }
                frames = f
            } catch let e as ZMQError where e.terminated {
                return
            } catch {
                log("\(name): \(error)")
                continue
            }
            let request: Message
            do {
                request = try Message.parse(frames, signer: signer)
            } catch let refusal as Message.Refusal {
                refuse(frames, refusal, on: socket, name: name)
                continue
            } catch {
                continue
            }
            handle(request, on: socket, channel: name)
        }
    }

    /// A message that cannot be trusted or read is logged; one whose signature is wrong is never
    /// answered (its sender does not hold the key), one that is signed but unreadable gets an error reply.
    func refuse(_ frames: [[UInt8]], _ refusal: Message.Refusal, on socket: ZMQSocket, name: String) {
        log("refused a message on \(name): \(refusal)")
        guard case .badJSON(let part) = refusal, let d = frames.firstIndex(of: Message.delimiter) else { return }
        let header = (try? JSONSerialization.jsonObject(with: Data(frames[d + 2]))) as? [String: Any]
        let type = (header?["msg_type"] as? String).map(Kernel.replyType) ?? "error_reply"
        var parent = Message(header: header ?? [:])
        parent.identities = Array(frames[..<d])
        reply(
            Message(
                type: type, parent: parent, session: sessionID,
                content: Kernel.errorContent("BadMessage", "the \(part) frame is not a JSON object")), on: socket)
    }

    /// `x_request` → `x_reply`.
    static func replyType(_ requestType: String) -> String {
        requestType.hasSuffix("_request") ? String(requestType.dropLast("_request".count)) + "_reply" : requestType + "_reply"
    }

    static func errorContent(_ name: String, _ value: String, traceback: [String]? = nil) -> [String: Any] {
        ["status": "error", "ename": name, "evalue": value, "traceback": traceback ?? [value]]
    }

    func handle(_ request: Message, on socket: ZMQSocket, channel: String) {
        publish(status: "busy", parent: request)
        defer { publish(status: "idle", parent: request) }
        let content: [String: Any]
        switch request.type {
        case "kernel_info_request": content = kernelInfo()
        case "execute_request" where channel == "shell": content = execute(request)
        case "complete_request": content = complete(request.content)
        case "inspect_request": content = inspect(request.content)
        case "is_complete_request": content = isComplete(request.content)
        case "history_request": content = history(request.content)
        case "comm_info_request": content = ["status": "ok", "comms": [String: Any]()]
        case "interrupt_request":
            cancellation.cancel()
            content = ["status": "ok"]
        case "shutdown_request":
            let restart = request.content["restart"] as? Bool ?? false
            shutdown()
            let answer = Message(type: "shutdown_reply", parent: request, session: sessionID, content: ["status": "ok", "restart": restart])
            reply(answer, on: socket)
            publish(answer)
            stopping.set()
            return
        default:
            log("unknown message type '\(request.type)' on \(channel)")
            content = Kernel.errorContent("UnknownMessageType", "squeeze's kernel does not handle '\(request.type)' on \(channel)")
        }
        reply(Message(type: Kernel.replyType(request.type), parent: request, session: sessionID, content: content), on: socket)
    }

    func reply(_ message: Message, on socket: ZMQSocket) {
        do { try socket.send(message.frames(signer: signer)) } catch { log("could not send \(message.type): \(error)") }
    }

    /// Sends on IOPub (topic: the message type), from any thread.
    func publish(_ message: Message) {
        iopubLock.lock()
        defer { iopubLock.unlock() }
        do { try iopub.send(message.frames(signer: signer, identities: [Array("kernel.\(message.type)".utf8)])) } catch {
            log("could not publish \(message.type): \(error)")
        }
    }

    func publish(status: String, parent: Message) {
        publish(Message(type: "status", parent: parent, session: sessionID, content: ["execution_state": status]))
    }

    func publish(_ type: String, parent: Message, _ content: [String: Any]) {
        publish(Message(type: type, parent: parent, session: sessionID, content: content))
    }

    /// Ends the recorded session (a cell still running is cancelled first).
    func shutdown() {
        cancellation.cancel()
        recorder?.end(.completed, error: nil)
        recorder = nil
    }

    func kernelInfo() -> [String: Any] {
        [
            "status": "ok", "protocol_version": Message.protocolVersion, "implementation": "squeeze",
            "implementation_version": Kernel.version,
            "language_info": [
                "name": "squeeze", "version": Kernel.version, "mimetype": "text/x-squeeze-recipe", "file_extension": ".recipe",
                // Jupyter's editors have no squeeze mode: Python's highlights its comments, strings,
                // numbers and most keywords. nbconvert uses the Pygments lexer shipped in Jupyter/.
                "pygments_lexer": "squeeze", "codemirror_mode": "python",
            ],
            "banner": "squeeze \(Kernel.version) — a recipe cell per notebook cell; ?name documents an operation",
            "help_links": [[String: Any]](),
            "debugger": false,
        ]
    }

    /// The squeeze version (set by the executable).
    nonisolated(unsafe) public static var version = "0"
}

/// A flag set once, read from any thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
