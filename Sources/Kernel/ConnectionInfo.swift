import Foundation

/// The connection file Jupyter writes for a kernel it starts: where to bind each socket and the
/// key that signs every message.
public struct ConnectionInfo: Sendable {
    public var transport: String
    public var ip: String
    public var shellPort: Int
    public var iopubPort: Int
    public var stdinPort: Int
    public var controlPort: Int
    public var heartbeatPort: Int
    public var key: String
    public var signatureScheme: String

    /// Why a connection file cannot be used, naming the file and the field.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Problem(description: "cannot read the connection file '\(file)'")
        }
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Problem(description: "the connection file '\(file)' is not a JSON object")
        }
        func port(_ name: String) throws -> Int {
            guard let p = o[name] as? Int, (0...65535).contains(p) else {
                let got = o[name].map { "\($0)" } ?? "nothing"
                throw Problem(description: "\(file): '\(name)' must be a port number (0 to 65535), got \(got)")
            }
            return p
        }
        transport = o["transport"] as? String ?? "tcp"
        guard ["tcp", "ipc"].contains(transport) else {
            throw Problem(description: "\(file): 'transport' must be \"tcp\" or \"ipc\", got \"\(transport)\"")
        }
        ip = o["ip"] as? String ?? "127.0.0.1"
        shellPort = try port("shell_port")
        iopubPort = try port("iopub_port")
        stdinPort = try port("stdin_port")
        controlPort = try port("control_port")
        heartbeatPort = try port("hb_port")
        key = o["key"] as? String ?? ""
        signatureScheme = o["signature_scheme"] as? String ?? "hmac-sha256"
        guard signatureScheme == "hmac-sha256" else {
            throw Problem(description: "\(file): 'signature_scheme' \"\(signatureScheme)\" is not supported (only hmac-sha256)")
        }
    }
}
