/// The VMM interface, its QEMU microvm and Firecracker drivers, kernels and initrds, the guest channel.
