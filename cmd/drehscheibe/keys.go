package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "hash" || len(args) > 2 {
		fmt.Fprintln(stderr, "Usage: drehscheibe keys hash [KEY]   (without KEY the key is read from standard input)")
		return exitUsage
	}
	key := ""
	if len(args) == 2 {
		key = args[1]
	} else {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintf(stderr, "drehscheibe keys hash: %v\n", err)
			return exitUsage
		}
		key = strings.TrimRight(line, "\r\n")
	}
	if len(key) < 16 {
		fmt.Fprintln(stderr, "drehscheibe keys hash: the key is shorter than 16 characters; use a long random key (e.g. openssl rand -hex 32)")
		return exitUsage
	}
	fmt.Fprintln(stdout, config.HashAPIKey(key))
	return exitOK
}
