#!/bin/bash
# Boots firebuild-init as PID 1 under QEMU microvm (TCG) for the guest tests. Not the production
# initrd builder (that lives in module VM); just enough to verify the init on a real kernel.
#
#   boot-init.sh check                    exit 0 when qemu, a cloud kernel, busybox-static, cpio, mkfs.ext4 exist
#   boot-init.sh prepare INIT WORKDIR     builds WORKDIR/initrd.cpio.gz and WORKDIR/rootfs.ext4 around INIT
#   boot-init.sh run WORKDIR              runs QEMU in the foreground; channel socket WORKDIR/fb.sock,
#                                         console WORKDIR/console.log; exits when the guest powers off
set -euo pipefail

KERNEL=${FB_KERNEL:-$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -1)}
KVER=${KERNEL#/boot/vmlinuz-}
MODDIR=/lib/modules/$KVER/kernel
BUSYBOX=/bin/busybox
MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio drivers/block/virtio_blk
         drivers/char/virtio_console net/core/failover drivers/net/net_failover drivers/net/virtio_net"

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1" >&2; exit 1; }; }

check() {
    need qemu-system-x86_64; need cpio; need mkfs.ext4; need gzip
    [ -n "$KERNEL" ] && [ -f "$KERNEL" ] || { echo "no /boot/vmlinuz-*-cloud-amd64 (apt-get install linux-image-cloud-amd64)" >&2; exit 1; }
    [ -d "$MODDIR" ] || { echo "no modules for $KVER in /lib/modules" >&2; exit 1; }
    file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || { echo "busybox is not static (apt-get install busybox-static)" >&2; exit 1; }
}

# Copies one module, decompressing .ko.xz/.ko.zst when the kernel ships them compressed.
copy_module() {
    local m=$1 dest=$2 name
    name=$(basename "$m")
    if [ -f "$MODDIR/$m.ko" ]; then cp "$MODDIR/$m.ko" "$dest/$name.ko"
    elif [ -f "$MODDIR/$m.ko.xz" ]; then xz -dc "$MODDIR/$m.ko.xz" > "$dest/$name.ko"
    elif [ -f "$MODDIR/$m.ko.zst" ]; then zstd -qdc "$MODDIR/$m.ko.zst" > "$dest/$name.ko"
    else echo "module $m not found under $MODDIR" >&2; exit 1; fi
}

prepare() {
    local init=$1 work=$2
    check
    mkdir -p "$work"
    rm -rf "$work/initrd" "$work/rootfs"
    # initrd: busybox, the virtio modules, /init that mounts the disk and hands over to firebuild-init
    mkdir -p "$work/initrd"/{bin,dev,proc,sys,newroot,lib/modules}
    cp "$BUSYBOX" "$work/initrd/bin/busybox"
    for m in $MODULES; do copy_module "$m" "$work/initrd/lib/modules"; done
    cat > "$work/initrd/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc; $B mount -t sysfs sys /sys; $B mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_mmio virtio_blk virtio_console failover net_failover virtio_net; do
    $B insmod /lib/modules/$m.ko || echo "initrd: insmod $m failed"
done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 500 ]; do $B usleep 10000; i=$((i+1)); done
$B mount -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; $B poweroff -f; }
# The static Swift runtime needs /proc at start: move the API mounts into the new root.
$B mount --move /proc /newroot/proc; $B mount --move /sys /newroot/sys; $B mount --move /dev /newroot/dev
exec $B switch_root /newroot /sbin/firebuild-init
INIT
    chmod 755 "$work/initrd/init"
    (cd "$work/initrd" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/initrd.cpio.gz")

    # rootfs: busybox with its applets, a user database, the init under test
    mkdir -p "$work/rootfs"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,home/app}
    cp "$BUSYBOX" "$work/rootfs/bin/busybox"
    for a in $("$BUSYBOX" --list); do [ -e "$work/rootfs/bin/$a" ] || ln -s busybox "$work/rootfs/bin/$a"; done
    cp "$init" "$work/rootfs/sbin/firebuild-init"
    chmod 755 "$work/rootfs/sbin/firebuild-init"
    printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' > "$work/rootfs/etc/passwd"
    printf 'root:x:0:\napp:x:1000:\n' > "$work/rootfs/etc/group"
    chmod 1777 "$work/rootfs/tmp"
    rm -f "$work/rootfs.ext4"
    mkfs.ext4 -q -F -d "$work/rootfs" -L rootfs "$work/rootfs.ext4" 64M
    rm -rf "$work/initrd" "$work/rootfs"
}

run() {
    local work=$1
    check
    rm -f "$work/fb.sock" "$work/console.log"
    # Never -cpu max/host under TCG; tsc_early_khz avoids the PIT calibration hang (feasibility §1.3).
    exec qemu-system-x86_64 -M microvm -accel tcg -m 512 -nodefaults -no-user-config -nographic \
        -serial "file:$work/console.log" \
        -kernel "$KERNEL" -initrd "$work/initrd.cpio.gz" \
        -append "console=ttyS0 edd=off quiet tsc_early_khz=2000000 panic=-1 firebuild.channel=virtio-serial" \
        -device virtio-serial-device \
        -chardev "socket,id=fb0,path=$work/fb.sock,server=on,wait=off" \
        -device virtserialport,chardev=fb0,name=firebuild.0 \
        -netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0,mac=02:fb:00:00:00:02 \
        -drive "id=root,file=$work/rootfs.ext4,format=raw,if=none" -device virtio-blk-device,drive=root \
        -no-reboot
}

case "${1:-}" in
    check) check ;;
    prepare) prepare "$2" "$3" ;;
    run) run "$2" ;;
    *) echo "usage: $0 check | prepare INIT WORKDIR | run WORKDIR" >&2; exit 2 ;;
esac
