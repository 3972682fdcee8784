// disk: a sandbox's own file system, the kernel-enforced disk and inode quota of its writable
// layer. Each sandbox with a quota gets a sparse ext4 image (<sandbox_dir>/disk.img) whose size
// is its disk quota and whose inode count is its inode quota; it is attached to a loop device
// (LOOP_CONFIGURE with autoclear: the device goes when the mount goes) and mounted at
// <sandbox_dir>/disk (nosuid, nodev, discard: blocks the sandbox frees are punched out of the
// image, so the host gets them back). The overlay's upper/ and work/ live there.
//
// Why not project quotas on one volume: this kernel has CONFIG_QUOTA but neither
// CONFIG_QFMT_V2 (ext4 quota files) nor CONFIG_XFS_QUOTA, so no file system here can enforce a
// per-directory quota; a file system per sandbox needs no quota code at all. A full image
// yields ENOSPC, a full inode table ENOSPC, whoever writes (sandbox root included: there are no
// reserved blocks, and overlayfs lowers CAP_SYS_RESOURCE in the credentials it writes with).
//
// The image is copied (sparse, about 1 MB) from a blank one made once per (size, inodes) by
// mkfs.ext4 under <blank_dir>, so a create does not pay for mkfs.
//
// Thread safety: reentrant; blank images are created under a process-wide mutex.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace sbx::runtime {

struct DiskQuota {
  int64_t bytes = 0;   // 0: no quota (upper/ on the state directory's file system)
  int64_t inodes = 0;  // files, directories and symlinks the sandbox may have
  bool enabled() const { return bytes > 0; }
};

// What the sandbox's file system holds now (statvfs of its mount).
struct DiskStats {
  int64_t total_bytes = 0;  // usable size (the image less the file system's own metadata)
  int64_t used_bytes = 0;
  int64_t total_inodes = 0;
  int64_t used_inodes = 0;
};

// Checks that loop devices and mkfs.ext4 are usable and makes the blank image for `quota`
// in `blank_dir` (mode 0700). Errors say what is missing and how to turn the quota off.
Result<void> CheckDiskSupport(const std::string& blank_dir, const DiskQuota& quota);

// <sandbox_dir>/disk mounted with the sandbox's file system, creating the image from the blank
// one when it does not exist (a kept image keeps its files). Idempotent.
Result<void> MountSandboxDisk(const std::string& sandbox_dir, const std::string& blank_dir,
                              const DiskQuota& quota);
// Unmounts <sandbox_dir>/disk if mounted (the loop device detaches with it). Keeps the image.
Result<void> UnmountSandboxDisk(const std::string& sandbox_dir);
// Whether the sandbox has a disk image (it was created with a quota).
bool HasSandboxDisk(const std::string& sandbox_dir);
// statvfs of the mounted disk; kNotFound when it is not mounted.
Result<DiskStats> SandboxDiskStats(const std::string& sandbox_dir);

}  // namespace sbx::runtime
