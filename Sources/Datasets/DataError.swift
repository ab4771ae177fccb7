import Foundation

/// A malformed or unsupported file, with where in it the problem is.
public struct DataError: Error, CustomStringConvertible, Sendable {
    public let file: String
    /// Byte offset in the file, or nil when the problem is not at one place.
    public let offset: Int?
    public let message: String

    public init(_ file: String, at offset: Int? = nil, _ message: String) {
        self.file = file
        self.offset = offset
        self.message = message
    }

    public var description: String {
        "\(file)\(offset.map { ": byte \($0)" } ?? ""): \(message)"
    }
}

/// A file's bytes, memory-mapped (large model files are touched only where they are read).
public func mappedContents(_ path: String) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
        throw DataError(path, "cannot read: \(error.localizedDescription)")
    }
}
