// A mutex + condition variable on the monotonic clock (pthread), because the Guest module has
// no Foundation (NSCondition) and waits need real timeouts.
#if canImport(Glibc)
import Glibc
#endif

final class Monitor {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Wakes every waiter; call with the lock held.
    func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits (lock held) until signalled or the monotonic `deadline` passes. False on timeout.
    func wait(until deadline: Double?) -> Bool {
        guard let deadline else { pthread_cond_wait(cond, mutex); return true }
        if Posix.now() >= deadline { return false }
        var ts = timespec()
        ts.tv_sec = Int(deadline)
        ts.tv_nsec = Int((deadline - Double(Int(deadline))) * 1e9)
        return pthread_cond_timedwait(cond, mutex, &ts) != ETIMEDOUT || Posix.now() < deadline
    }
}

/// Starts a detached pthread running `body` (no Foundation Thread here).
func startThread(_ body: @escaping () -> Void) throws {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    let arg = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { raw in
        guard let raw else { return nil }
        let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        box.body()
        return nil
    }, arg)
    guard rc == 0 else {
        Unmanaged<Box>.fromOpaque(arg).release()
        throw GuestError.posix("pthread_create", errno: rc)
    }
    pthread_detach(tid)
}
