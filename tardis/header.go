package tardis

// ReadHeader returns the column names of a Tardis CSV file (gzipped or
// not), for telling its data type (DetectDataType) before choosing a
// reader.
func ReadHeader(path string) ([]string, error) {
	c, err := openCSV(path, path, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return append([]string(nil), c.Header()...), nil
}
