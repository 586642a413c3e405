module github.com/nfgo/nfgo

go 1.26.8
