import CCrypto
import Foundation

/// HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256, as Jupyter signs messages: the key from the
/// connection file, the message the concatenated header, parent header, metadata and content.
struct Signer: Sendable {
    let inner: [UInt8]
    let outer: [UInt8]
    /// An empty key turns signing off, as the protocol allows (the signature frame is then empty).
    let enabled: Bool

    init(key: String) {
        var k = Array(key.utf8)
        enabled = !k.isEmpty
        if k.count > 64 { k = Signer.sha256([k]) }
        k += [UInt8](repeating: 0, count: 64 - k.count)
        inner = k.map { $0 ^ 0x36 }
        outer = k.map { $0 ^ 0x5c }
    }

    static func sha256(_ parts: [[UInt8]]) -> [UInt8] {
        var ctx = squeeze_sha256_ctx()
        squeeze_sha256_init(&ctx)
        for p in parts { p.withUnsafeBytes { squeeze_sha256_update(&ctx, $0.baseAddress, $0.count) } }
        var digest = [UInt8](repeating: 0, count: 32)
        squeeze_sha256_final(&ctx, &digest)
        return digest
    }

    /// The lowercase hex signature of the four JSON frames ("" when signing is off).
    func sign(_ frames: ArraySlice<[UInt8]>) -> [UInt8] {
        guard enabled else { return [] }
        let digest = Signer.sha256([outer, Signer.sha256([inner] + Array(frames))])
        let digits = Array("0123456789abcdef".utf8)
        return digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }
    }

    /// Compares in time independent of where the first difference is.
    func verify(_ signature: [UInt8], _ frames: ArraySlice<[UInt8]>) -> Bool {
        guard enabled else { return true }
        let expected = sign(frames)
        guard signature.count == expected.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(signature, expected) { diff |= a ^ b }
        return diff == 0
    }
}

/// One Jupyter message (messaging protocol 5.3): routing identities, then the delimiter, the
/// signature and four JSON dictionaries, then binary buffers.
struct Message: @unchecked Sendable {
    static let delimiter = Array("<IDS|MSG>".utf8)
    static let protocolVersion = "5.3"

    var identities: [[UInt8]] = []
    var header: [String: Any]
    var parent: [String: Any] = [:]
    var metadata: [String: Any] = [:]
    var content: [String: Any] = [:]
    var buffers: [[UInt8]] = []

    var type: String { header["msg_type"] as? String ?? "" }
    var id: String { header["msg_id"] as? String ?? "" }

    /// Why a received message was refused.
    enum Refusal: Error, CustomStringConvertible {
        case noDelimiter, tooShort, badSignature, badJSON(String)
        var description: String {
            switch self {
            case .noDelimiter: return "no <IDS|MSG> delimiter"
            case .tooShort: return "fewer than the five frames after the identities"
            case .badSignature: return "wrong or missing HMAC signature"
            case .badJSON(let part): return "the \(part) frame is not a JSON object"
            }
        }
    }

    /// Parses the frames of a received message, checking the signature before reading any JSON.
    static func parse(_ frames: [[UInt8]], signer: Signer) throws -> Message {
        guard let d = frames.firstIndex(of: delimiter) else { throw Refusal.noDelimiter }
        guard frames.count >= d + 6 else { throw Refusal.tooShort }
        guard signer.verify(frames[d + 1], frames[(d + 2)..<(d + 6)]) else { throw Refusal.badSignature }
        func object(_ i: Int, _ part: String) throws -> [String: Any] {
            guard let o = try? JSONSerialization.jsonObject(with: Data(frames[d + 2 + i])) as? [String: Any] else {
                throw Refusal.badJSON(part)
            }
            return o
        }
        var m = Message(header: try object(0, "header"))
        m.identities = Array(frames[..<d])
        m.parent = try object(1, "parent header")
        m.metadata = try object(2, "metadata")
        m.content = try object(3, "content")
        m.buffers = Array(frames[(d + 6)...])
        return m
    }

    /// A new message of `type` in reply to (or caused by) `parent`, in `session`.
    init(type: String, parent: Message?, session: String, content: [String: Any]) {
        header = [
            "msg_id": UUID().uuidString.lowercased(), "session": session, "username": "squeeze",
            "date": JSON.now(), "msg_type": type, "version": Message.protocolVersion,
        ]
        self.parent = parent?.header ?? [:]
        self.identities = parent?.identities ?? []
        self.content = content
    }

    init(header: [String: Any]) { self.header = header }

    /// The frames to send, signed.
    func frames(signer: Signer, identities: [[UInt8]]? = nil) -> [[UInt8]] {
        let json = [header, parent, metadata, content].map { JSON.encode($0) }
        return (identities ?? self.identities) + [Message.delimiter, signer.sign(json[...])] + json + buffers
    }

}
