/// Trees to ext4 root filesystems (mkfs.ext4 -d), sizing, resizing, reproducible mode, in-image edits.
