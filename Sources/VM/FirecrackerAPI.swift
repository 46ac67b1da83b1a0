import FirebuildCore
import Foundation

/// Request bodies of the Firecracker REST API (swagger `definitions`), with its snake_case names.
/// Only the fields firebuild sets; optional ones are omitted from the JSON when nil.
public enum FirecrackerAPI {
    public struct BootSource: Codable, Equatable, Sendable {
        public var kernelImagePath: String
        public var bootArgs: String?
        public var initrdPath: String?
        enum CodingKeys: String, CodingKey {
            case kernelImagePath = "kernel_image_path", bootArgs = "boot_args", initrdPath = "initrd_path"
        }
    }

    public struct Drive: Codable, Equatable, Sendable {
        public var driveID: String
        public var pathOnHost: String
        public var isRootDevice: Bool
        public var isReadOnly: Bool
        public var cacheType: String?
        public var ioEngine: String?
        enum CodingKeys: String, CodingKey {
            case driveID = "drive_id", pathOnHost = "path_on_host", isRootDevice = "is_root_device"
            case isReadOnly = "is_read_only", cacheType = "cache_type", ioEngine = "io_engine"
        }
    }

    public struct NetworkInterface: Codable, Equatable, Sendable {
        public var ifaceID: String
        public var hostDevName: String
        public var guestMAC: String?
        enum CodingKeys: String, CodingKey {
            case ifaceID = "iface_id", hostDevName = "host_dev_name", guestMAC = "guest_mac"
        }
    }

    public struct MachineConfiguration: Codable, Equatable, Sendable {
        public var vcpuCount: Int
        public var memSizeMiB: Int
        public var smt: Bool?
        enum CodingKeys: String, CodingKey {
            case vcpuCount = "vcpu_count", memSizeMiB = "mem_size_mib", smt
        }
    }

    public struct Vsock: Codable, Equatable, Sendable {
        public var guestCID: UInt32
        public var udsPath: String
        enum CodingKeys: String, CodingKey {
            case guestCID = "guest_cid", udsPath = "uds_path"
        }
    }

    public struct SerialDevice: Codable, Equatable, Sendable {
        public var serialOutPath: String
        enum CodingKeys: String, CodingKey {
            case serialOutPath = "serial_out_path"
        }
    }

    public struct InstanceActionInfo: Codable, Equatable, Sendable {
        public enum ActionType: String, Codable, Sendable {
            case instanceStart = "InstanceStart"
            case sendCtrlAltDel = "SendCtrlAltDel"
            case flushMetrics = "FlushMetrics"
        }
        public var actionType: ActionType
        enum CodingKeys: String, CodingKey {
            case actionType = "action_type"
        }
    }

    /// One API call: method, path and JSON body. `definition` names the swagger schema of the body.
    public struct Request: Equatable, Sendable {
        public var method: String
        public var path: String
        public var body: Data?
        public var definition: String?

        public static func put<T: Encodable>(_ path: String, _ body: T, definition: String) throws -> Request {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Request(method: "PUT", path: path, body: try encoder.encode(body), definition: definition)
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        public init(status: Int, body: Data) {
            self.status = status
            self.body = body
        }
    }

    /// Firecracker's error body: `{"fault_message": "..."}`.
    static func faultMessage(_ body: Data) -> String {
        if let obj = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let m = obj["fault_message"] as? String {
            return m
        }
        return String(decoding: body.prefix(300), as: UTF8.self)
    }
}

/// How API requests reach the Firecracker socket (HTTP over a Unix socket).
public protocol FirecrackerTransport: Sendable {
    func send(_ request: FirecrackerAPI.Request, socketPath: String) throws -> FirecrackerAPI.Response
}

extension FirecrackerTransport {
    /// Sends and requires a 2xx answer, turning Firecracker's fault message into the error.
    @discardableResult
    public func call(_ request: FirecrackerAPI.Request, socketPath: String) throws -> FirecrackerAPI.Response {
        let response = try send(request, socketPath: socketPath)
        guard (200..<300).contains(response.status) else {
            throw FirebuildError(.subprocess, "Firecracker \(request.method) \(request.path) failed with HTTP \(response.status): \(FirecrackerAPI.faultMessage(response.body))")
        }
        return response
    }
}
