// Package stdlib is the Lua-facing parsing library: Go parsers for the
// text and binary forms protocol helpers meet on their hot paths, exposed
// to scripts as the module "parse".
//
// Every parser takes a byte slice and a 0-based offset and returns the
// offset just past what it consumed, so that calls chain. In Lua, the
// source is a string or a packet (its payload, read without copying);
// expected failures return nil and an error string ("incomplete" when the
// input ends before the form does).
//
// A Go parser called from Lua is several times cheaper than the same
// extraction with string.match: see BenchmarkPortLine.
package stdlib
