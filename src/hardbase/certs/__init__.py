"""Trust stores: the system CA bundle, OpenSSL hash links and Java keystores.

`x509` reads PEM and DER certificates and computes OpenSSL's subject hash,
`pkcs12` and `jks` read and write Java keystores byte for byte
deterministically, `trust` works out the files an image's trust store is made
of, and `add` writes them to any existing image as one new layer.
"""
