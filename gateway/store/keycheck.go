package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keyCheckFile, in the data directory, holds an HMAC of a constant under
// the encryption key: it tells whether a key is the one the data was
// encrypted with, without revealing the key. nats-server itself would start
// with a wrong key and leave the streams it cannot read behind.
const keyCheckFile = "drehscheibe-encryption.check"

func keyCheck(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("drehscheibe jetstream encryption key check v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// checkKey compares key ("" for none) with the check file in dir and
// writes the file on the first start with a key.
func checkKey(dir, key string) error {
	path := filepath.Join(dir, keyCheckFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if key == "" {
			return nil
		}
		if err := os.WriteFile(path, []byte(keyCheck(key)+"\n"), 0o600); err != nil {
			return fmt.Errorf("nats.data_dir: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("nats.data_dir: %w", err)
	case key == "":
		return fmt.Errorf("the data in %s is encrypted at rest, but no encryption key is configured (nats.encryption_key_file or nats.encryption_key_env)", dir)
	case !hmac.Equal([]byte(strings.TrimSpace(string(b))), []byte(keyCheck(key))):
		return fmt.Errorf("the encryption key is not the one the data in %s was encrypted with; configure the right key (nothing was started, the data is untouched)", dir)
	}
	return nil
}
