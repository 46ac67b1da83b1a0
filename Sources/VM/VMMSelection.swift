import FirebuildCore
import Foundation

/// `--vmm qemu|firecracker`: QEMU unless Firecracker binaries are configured (or asked for by name).
public enum VMMSelection {
    /// The VMM to use: `name` when given; otherwise Firecracker when its binaries are configured, else QEMU.
    public static func kind(named name: String?, firecrackerConfigured: Bool) throws -> VMMKind {
        guard let name, !name.isEmpty else { return firecrackerConfigured ? .firecracker : .qemu }
        guard let kind = VMMKind(rawValue: name.lowercased()) else {
            throw FirebuildError(.invalidArgument, "unknown VMM \"\(name)\": use --vmm qemu or --vmm firecracker")
        }
        if kind == .firecracker && !firecrackerConfigured {
            throw FirebuildError(.invalidArgument, "--vmm firecracker needs --binary-firecracker and --binary-jailer (or a profile setting them)")
        }
        return kind
    }

    /// The driver for `kind`. Firecracker needs its options (binaries, chroot base).
    public static func manager(_ kind: VMMKind, firecracker: FirecrackerDriver.Options? = nil,
                               qemu: QEMUDriver = QEMUDriver()) throws -> VirtualMachineManager {
        switch kind {
        case .qemu: return qemu
        case .firecracker:
            guard let firecracker else {
                throw FirebuildError(.invalidArgument, "Firecracker selected but no firecracker/jailer binaries configured")
            }
            return FirecrackerDriver(options: firecracker)
        }
    }

    /// An instance for a persisted handle, whichever VMM started it.
    public static func instance(for handle: VMHandle, transport: FirecrackerTransport = CurlFirecrackerTransport()) -> VMInstance {
        switch handle.vmm {
        case .qemu: return QEMUInstance(handle: handle)
        case .firecracker: return FirecrackerInstance(handle: handle, transport: transport)
        }
    }
}
