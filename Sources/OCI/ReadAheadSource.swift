import FirebuildCore
import Foundation

/// Reads its inner source on a thread of its own, a few big buffers ahead of the consumer.
/// Applying a layer is two kinds of work: decompressing and hashing (CPU, in the inner
/// source) and creating files (system calls, in the tar applier). With this in between they
/// run on two cores at once instead of taking turns.
///
/// Errors of the inner source reach the consumer in order, after the bytes read before
/// them. `stop()` (or deinit) lets the producer go without waiting for it: it holds its own
/// references, finishes its current read and exits.
final class ReadAheadSource: ByteSource, @unchecked Sendable {
    private let cond = NSCondition()
    private var filled: [(UnsafeMutableRawBufferPointer, Int)] = []   // buffers with data, in order
    private var free: [UnsafeMutableRawBufferPointer] = []
    private var current: (UnsafeMutableRawBufferPointer, Int)?
    private var currentPos = 0
    private var ended = false
    private var failure: Error?
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(_ inner: ByteSource, buffers: Int = 4, bufferSize: Int = 1 << 20) {
        for _ in 0..<max(2, buffers) {
            free.append(UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64))
        }
        let box = UncheckedBox(inner)
        Thread.detachNewThread { [self] in
            produce(box.value)
            done.signal()
        }
    }

    deinit {
        // The producer holds `self` until it has exited, so deinit runs after it: nothing to wait for.
        for b in free { b.deallocate() }
        for (b, _) in filled { b.deallocate() }
        if let (b, _) = current { b.deallocate() }
    }

    private func produce(_ inner: ByteSource) {
        while true {
            cond.lock()
            while free.isEmpty && !stopped { cond.wait() }
            if stopped { cond.unlock(); return }
            let buffer = free.removeLast()
            cond.unlock()
            var n = 0
            var error: Error?
            do { n = try inner.read(into: buffer) } catch let e { error = e }
            cond.lock()
            if error != nil || n == 0 {
                free.append(buffer)
                if let error { failure = error }
                ended = true
                cond.broadcast()
                cond.unlock()
                return
            }
            filled.append((buffer, n))
            cond.broadcast()
            cond.unlock()
        }
    }

    func read(into dest: UnsafeMutableRawBufferPointer) throws -> Int {
        guard dest.count > 0 else { return 0 }
        if current == nil {
            cond.lock()
            while filled.isEmpty && !ended { cond.wait() }
            if filled.isEmpty {
                let error = failure
                cond.unlock()
                if let error { throw error }
                return 0
            }
            current = filled.removeFirst()
            currentPos = 0
            cond.unlock()
        }
        guard let (buffer, count) = current else { return 0 }
        let n = min(dest.count, count - currentPos)
        dest.baseAddress!.copyMemory(from: buffer.baseAddress! + currentPos, byteCount: n)
        currentPos += n
        if currentPos == count {
            cond.lock()
            free.append(buffer)
            current = nil
            cond.signal()
            cond.unlock()
        }
        return n
    }

    /// Tells the producer to stop after its current read.
    func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    /// Waits until the producer has exited (after the end of the stream or `stop()`).
    func join() {
        done.wait()
        done.signal()
    }
}

/// Carries a non-Sendable reference to the producer thread, which is its only user from then on.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
