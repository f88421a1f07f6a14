//! Native binaries by their magic bytes (ELF, PE, Mach-O) and large opaque members (M14).
//! (Owned by part H2; foundation stub.)
