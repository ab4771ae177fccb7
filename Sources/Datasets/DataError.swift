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
