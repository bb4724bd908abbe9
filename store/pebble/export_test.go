package pebble

// CopyDir lets the external tests simulate a power loss (see copyDir).
var CopyDir = copyDir
