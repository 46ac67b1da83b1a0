import Foundation

/// Sleeps between polls of something that is usually ready soon (a VMM's control socket, a
/// process exit, a lock): 1 ms first, doubling up to `maximum`. A fixed 20 ms poll cost ~10 ms on
/// average at every VM start and stop.
public struct Backoff {
    private var next: UInt32
    private let maximum: UInt32

    public init(firstMicroseconds: UInt32 = 1_000, maximumMicroseconds: UInt32 = 20_000) {
        next = firstMicroseconds
        maximum = maximumMicroseconds
    }

    public mutating func sleep() {
        usleep(next)
        next = min(next * 2, maximum)
    }
}
