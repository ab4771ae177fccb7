import Foundation

/// The history's own copies of the files runs wrote, content-addressed: a file is kept once under
/// its SHA-256 as `artifacts/ab/abcdef….<kind>` next to the database, however many runs wrote it,
/// so a later run writing the same path cannot take an earlier run's result away. Files over the
/// size limit are recorded by their hash only.
public struct ArtifactStore: Sendable {
    /// The folder holding the copies.
    public let root: URL

    /// 100 MiB: every plot, table and most saved tensors; a model's weights are recorded by hash.
    public static let defaultLimit = 100 << 20

    public init(root: URL) { self.root = root }

    /// Where the copy of a file with this digest and kind lives (whether or not it is there).
    public func location(sha256: String, kind: String) -> URL {
        let name = kind.isEmpty ? sha256 : sha256 + "." + kind
        return root.appendingPathComponent(String(sha256.prefix(2)), isDirectory: true).appendingPathComponent(name)
    }

    /// Whether a copy of this digest is there with the recorded size (doctor hashes it too).
    public func holds(sha256: String, kind: String, bytes: Int) -> Bool {
        ArtifactStore.holds(file: location(sha256: sha256, kind: kind).path, bytes: bytes)
    }

    /// Whether a stored copy is there with the recorded size.
    public static func holds(file: String, bytes: Int) -> Bool {
        ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.intValue == bytes
    }

    /// What `keep` found: the file's digest and size, and whether the store holds a copy.
    public struct Kept: Sendable {
        public let sha256: String
        public let bytes: Int
        public let stored: Bool
    }

    /// Digests the file at `path` and, when it is at most `limit` bytes, keeps a copy. The copy is
    /// made first and digested itself, so the recorded hash is the hash of what is stored even if
    /// the file changes meanwhile; it is renamed into place, so a crash leaves no partial copy under
    /// a digest's name. Nil when the file cannot be read; a copy that cannot be made (disk full, a
    /// read-only history) is recorded by hash only.
    public func keep(path: String, kind: String, limit: Int) -> Kept? {
        let fm = FileManager.default
        guard let size = (try? fm.attributesOfItem(atPath: path))?[.size] as? NSNumber else { return nil }
        if size.intValue > limit {
            guard let digest = SHA256.file(path) else { return nil }
            return Kept(sha256: digest.hex, bytes: digest.bytes, stored: holds(sha256: digest.hex, kind: kind, bytes: digest.bytes))
        }
        let scratch = root.appendingPathComponent("incoming-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: root, withIntermediateDirectories: true)
            try fm.copyItem(atPath: path, toPath: scratch.path)
        } catch {
            try? fm.removeItem(at: scratch)
            return SHA256.file(path).map { Kept(sha256: $0.hex, bytes: $0.bytes, stored: false) }
        }
        defer { try? fm.removeItem(at: scratch) }
        guard let digest = SHA256.file(scratch.path) else { return nil }
        let target = location(sha256: digest.hex, kind: kind)
        if holds(sha256: digest.hex, kind: kind, bytes: digest.bytes) {
            return Kept(sha256: digest.hex, bytes: digest.bytes, stored: true)
        }
        do {
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? fm.removeItem(at: target)  // a damaged copy of the wrong size
            try fm.moveItem(at: scratch, to: target)
        } catch {
            // Another squeeze may have put the same content there first.
            return Kept(sha256: digest.hex, bytes: digest.bytes, stored: holds(sha256: digest.hex, kind: kind, bytes: digest.bytes))
        }
        return Kept(sha256: digest.hex, bytes: digest.bytes, stored: true)
    }
}
