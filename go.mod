module github.com/govgate/govgate

go 1.26.8

require (
	github.com/dunglas/httpsfv v1.1.2
	github.com/emmansun/gmsm v0.30.1
	github.com/tjfoc/gmsm v1.4.1
	github.com/valyala/fasthttp v1.78.0
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
