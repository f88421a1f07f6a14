//! `.pth` files: which lines Python executes at interpreter start (lines beginning with
//! `import`), and what they do (M5). (Owned by part H2; foundation stub.)
