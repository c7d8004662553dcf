// ocileaks is a module of its own: it uses the project's IPC clients (through
// the replace below), and sharing a build list with the validation suite in
// ../go.mod would move the suite's pinned dependencies.
module github.com/sysboxd/sysboxd/tests/oci/ocileaks

go 1.26.0

require (
	github.com/sysboxd/sysboxd v0.0.0
	golang.org/x/sys v0.50.0
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/grpc v1.85.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/sysboxd/sysboxd => ../../..
