// Framing of the host<->guest byte stream (virtio-serial port or vsock connection).
//
// Every frame is a 12-byte header followed by `length` body bytes:
//
//   offset size field
//   0      2    magic  "FB" (0x46 0x42): resynchronisation is not attempted, a bad magic is fatal
//   2      1    version (1)
//   3      1    type   (FrameType)
//   4      4    id     big-endian request id; 0 = the workload / unsolicited guest events
//   8      4    length big-endian body length, at most Frame.maxBody
//
// Bodies are UTF-8 JSON objects for control messages and raw bytes for data frames
// (stdin, fileData, stdout, stderr): file contents and output never go through JSON.
#if canImport(Glibc)
import Glibc
#endif

public enum FrameType: UInt8, Sendable, CaseIterable {
    // host -> guest
    case metadata = 1      // JSON Metadata; once, after `ready`
    case exec = 2          // JSON ExecRequest; answered by stdout/stderr frames then `exit` (same id)
    case stdin = 3         // raw bytes for an exec started with stdin=true; an empty body closes stdin
    case signal = 4        // JSON SignalRequest; answered by `ok`
    case writeFile = 5     // JSON WriteFileRequest, then fileData frames, then fileEnd; answered by `ok`
    case fileData = 6      // raw chunk of the file opened by `writeFile` with the same id
    case fileEnd = 7       // empty; commits the file (atomic rename)
    case mkdir = 8         // JSON MkdirRequest; answered by `ok`
    case chown = 9         // JSON ChownRequest; answered by `ok`
    case stat = 10         // JSON StatRequest; answered by `statResult`
    case shutdown = 11     // JSON ShutdownRequest; the guest stops the workload and powers off
    case ack = 12          // empty; the host saw the workload's `exit` (the guest may power off now)
    case fileBatch = 13    // JSON FileBatch: mkdir/copy (bytes from a content disk)/symlink entries in order; answered by `ok`
    case resume = 14       // JSON ResumeInfo: answers `bootPaused` (early boot goes on with the host's clock and entropy)
    // guest -> host
    case ready = 64        // JSON ReadyInfo; first frame after the channel opens (id 0)
    case stdout = 65       // raw output bytes of the workload (id 0) or of an exec (its id)
    case stderr = 66
    case exit = 67         // JSON ExitStatus of the workload (id 0) or of an exec
    case error = 68        // JSON {"message"}: the request with this id failed (id 0: fatal guest error)
    case heartbeat = 69    // JSON {"uptime"}: every Metadata.heartbeatInterval seconds
    case statResult = 70   // JSON StatResult
    case ok = 71           // empty; the request with this id succeeded
    case log = 72          // JSON {"message"}: a diagnostic line from the init
    case bootPaused = 73   // JSON BootPausedInfo: early boot waits for `resume` (firebuild.pause; boot templates)

    public var isRaw: Bool { self == .stdin || self == .fileData || self == .stdout || self == .stderr }
}

public struct Frame: Equatable, Sendable {
    public static let headerSize = 12
    public static let maxBody = 16 << 20
    /// File data and stdin are sent in chunks of this size.
    public static let chunkSize = 256 << 10
    public static let version: UInt8 = 1
    /// Id of the workload's output/exit frames and of unsolicited guest events.
    public static let workloadID: UInt32 = 0

    public var type: FrameType
    public var id: UInt32
    public var body: [UInt8]

    public init(_ type: FrameType, id: UInt32, body: [UInt8] = []) {
        self.type = type
        self.id = id
        self.body = body
    }

    public init(_ type: FrameType, id: UInt32, json: JSON) {
        self.init(type, id: id, body: json.bytes)
    }

    /// The body parsed as JSON (an empty body reads as an empty object).
    public func json() throws -> JSON {
        if body.isEmpty { return .object([]) }
        return try JSON.parse(body)
    }

    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Frame.headerSize + body.count)
        out += [0x46, 0x42, Frame.version, type.rawValue]
        for v in [id, UInt32(body.count)] {
            out += [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16),
                    UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        }
        out += body
        return out
    }
}

/// Incremental decoder: feed it whatever arrived, pop whole frames.
public struct FrameDecoder {
    var buffer: [UInt8] = []
    var start = 0

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) { feed(bytes[...]) }

    public mutating func feed(_ bytes: ArraySlice<UInt8>) {
        if start > 0 && start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        buffer += bytes
    }

    /// Bytes received but not yet returned as frames.
    public var pending: Int { buffer.count - start }

    public mutating func next() throws -> Frame? {
        guard buffer.count - start >= Frame.headerSize else { return nil }
        let h = start
        guard buffer[h] == 0x46, buffer[h + 1] == 0x42 else {
            throw GuestError(.protocolError, "bad frame magic \(buffer[h]) \(buffer[h + 1]) (channel out of sync)")
        }
        guard buffer[h + 2] == Frame.version else {
            throw GuestError(.protocolError, "unsupported protocol version \(buffer[h + 2]) (this side speaks \(Frame.version)); rebuild firebuild-init")
        }
        guard let type = FrameType(rawValue: buffer[h + 3]) else {
            throw GuestError(.protocolError, "unknown frame type \(buffer[h + 3])")
        }
        func u32(_ o: Int) -> UInt32 {
            UInt32(buffer[o]) << 24 | UInt32(buffer[o + 1]) << 16 | UInt32(buffer[o + 2]) << 8 | UInt32(buffer[o + 3])
        }
        let id = u32(h + 4), length = Int(u32(h + 8))
        guard length <= Frame.maxBody else { throw GuestError(.protocolError, "frame body of \(length) bytes exceeds \(Frame.maxBody)") }
        guard buffer.count - start >= Frame.headerSize + length else { return nil }
        let body = Array(buffer[(h + Frame.headerSize)..<(h + Frame.headerSize + length)])
        start += Frame.headerSize + length
        if start > 1 << 20 { buffer.removeSubrange(0..<start); start = 0 }  // keep memory bounded
        return Frame(type, id: id, body: body)
    }
}

/// Blocking frame I/O on one file descriptor (socket, virtio port, pipe).
public final class FrameChannel {
    public let fd: Int32
    var decoder = FrameDecoder()
    public private(set) var isClosed = false
    /// Reused by every read: a virtio-serial read returns at most one 4 KiB buffer, so allocating
    /// and zeroing 64 KiB per read cost more than the data itself under TCG (COPY of big files).
    private var readBuffer = [UInt8](repeating: 0, count: 65536)

    let isSocket: Bool

    public init(fd: Int32) {
        self.fd = fd
        isSocket = Posix.isSocket(fd)
    }

    /// Sends one frame; callers that share the channel between threads serialise sends themselves.
    public func send(_ frame: Frame) throws {
        guard frame.body.count <= Frame.maxBody else { throw GuestError(.invalidArgument, "frame body too large (\(frame.body.count) bytes)") }
        try Posix.writeAll(fd, frame.encoded(), socket: isSocket)
    }

    /// Next frame, nil on timeout; throws `.closed` at end of stream.
    public func receive(timeout: Double?) throws -> Frame? {
        let deadline = timeout.map { Posix.now() + $0 }
        while true {
            if let f = try decoder.next() { return f }
            if isClosed { throw GuestError(.closed, "channel closed by the peer") }
            let left = deadline.map { $0 - Posix.now() }
            if let left, left <= 0 { return nil }
            guard try Posix.waitReadable(fd, timeout: left) else { return nil }
            try readAvailable()
        }
    }

    /// Reads what is available (after poll said readable) and feeds the decoder.
    /// Returns false at end of stream; EAGAIN (spurious wake-up) is not an end.
    @discardableResult
    public func readAvailable() throws -> Bool {
        while true {
            let n = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { decoder.feed(readBuffer[0..<n]); return true }
            if n == 0 { isClosed = true; return false }
            if errno == EINTR { continue }
            if errno == EAGAIN { return true }
            if errno == ECONNRESET || errno == EPIPE { isClosed = true; return false }
            throw GuestError.posix("read channel", "fd \(fd)")
        }
    }

    /// Drops partially received bytes (after the host reconnected to a virtio-serial port).
    public func resetDecoder() {
        decoder = FrameDecoder()
        isClosed = false
    }

    /// Pops a frame already buffered (after readAvailable).
    public func nextBuffered() throws -> Frame? { try decoder.next() }
}
