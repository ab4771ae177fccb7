extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) * 1e-18
    }
}
