package dev.sluice.proxy.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a listener's PEM certificate chain and private key before Netty builds a context from them,
 * because the JDK accepts a key that does not belong to the certificate and every handshake then
 * fails with a cipher error nobody can read. Answers in the administrator's terms: which file, what
 * is wrong, and the openssl command that fixes a key in a format Sluice does not read (PKCS#1,
 * SEC1, encrypted). Sluice reads unencrypted PKCS#8 keys ({@code BEGIN PRIVATE KEY}), as Netty does
 * without BouncyCastle.
 *
 * <p>Stateless; reads the two files on each call.
 */
public final class PemKeyPair {
  private static final Pattern BLOCK = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \\1-----", Pattern.DOTALL);
  private static final byte[] PROOF = "sluice: does this key belong to this certificate?".getBytes(StandardCharsets.US_ASCII);

  private PemKeyPair() {}

  /** Which of the two files a problem is in. */
  public enum Part {
    CERT,
    KEY
  }

  /** A problem with one of the two files, with a hint to fix it. */
  public static final class BadFileException extends IOException {
    private static final long serialVersionUID = 1L;
    private final Part part;
    private final String hint;

    BadFileException(Part part, String message, String hint) {
      super(message, null);
      this.part = part;
      this.hint = hint;
    }

    public Part part() {
      return part;
    }

    public String hint() {
      return hint;
    }
  }

  /**
   * Reads both files and checks that the certificate chain parses and that the key is an
   * unencrypted PKCS#8 key of the leaf certificate's public key.
   *
   * @return the leaf certificate
   */
  public static X509Certificate check(Path cert, Path key) throws BadFileException {
    X509Certificate leaf = leaf(cert, read(Part.CERT, cert));
    PrivateKey privateKey = privateKey(key, read(Part.KEY, key), leaf.getPublicKey().getAlgorithm());
    if (!belongTogether(privateKey, leaf.getPublicKey())) {
      throw new BadFileException(Part.KEY, key + " is not the private key of the certificate in " + cert
          + " (" + leaf.getSubjectX500Principal().getName() + ")",
          "use the key the certificate was issued for; compare 'openssl x509 -noout -pubkey -in CERT' with "
              + "'openssl pkey -pubout -in KEY'");
    }
    return leaf;
  }

  private static String read(Part part, Path file) throws BadFileException {
    String what = part == Part.CERT ? "certificate" : "key";
    try {
      return Files.readString(file, StandardCharsets.US_ASCII);
    } catch (NoSuchFileException e) {
      throw new BadFileException(part, file + " not found", "the path is relative to the config file's directory");
    } catch (AccessDeniedException e) {
      throw new BadFileException(part, file + " cannot be read: permission denied",
          "let the user Sluice runs as read the " + what + " file");
    } catch (IOException e) {
      throw new BadFileException(part, file + " cannot be read: " + e.getMessage(), "check the path");
    }
  }

  private static X509Certificate leaf(Path file, String pem) throws BadFileException {
    if (!pem.contains("-----BEGIN CERTIFICATE-----")) {
      throw new BadFileException(Part.CERT, file + " holds no PEM certificate (no BEGIN CERTIFICATE line)",
          "cert is the certificate chain in PEM, leaf first; a key belongs in key");
    }
    try {
      Collection<? extends java.security.cert.Certificate> chain = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
      if (chain.isEmpty()) {
        throw new GeneralSecurityException("no certificate");
      }
      return (X509Certificate) chain.iterator().next();
    } catch (GeneralSecurityException | ClassCastException e) {
      throw new BadFileException(Part.CERT, file + " holds a certificate that cannot be read: " + e.getMessage(),
          "check it with 'openssl x509 -noout -text -in " + file + "'");
    }
  }

  private static PrivateKey privateKey(Path file, String pem, String algorithm) throws BadFileException {
    Matcher m = BLOCK.matcher(pem);
    String pkcs8 = null;
    while (m.find()) {
      String type = m.group(1);
      String convert = "convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in " + file + " -out key.pk8.pem";
      switch (type) {
        case "PRIVATE KEY" -> pkcs8 = m.group(2);
        case "RSA PRIVATE KEY" -> throw new BadFileException(Part.KEY, file + " is an RSA key in PKCS#1 form "
            + "(BEGIN RSA PRIVATE KEY); Sluice reads PKCS#8 (BEGIN PRIVATE KEY)", convert);
        case "EC PRIVATE KEY" -> throw new BadFileException(Part.KEY, file + " is an EC key in SEC1 form "
            + "(BEGIN EC PRIVATE KEY); Sluice reads PKCS#8 (BEGIN PRIVATE KEY)", convert);
        case "ENCRYPTED PRIVATE KEY" -> throw new BadFileException(Part.KEY, file + " is encrypted; Sluice reads "
            + "unencrypted keys", "decrypt it into a file only Sluice's user can read: openssl pkcs8 -in " + file
            + " -out key.plain.pem");
        default -> {
          // a certificate or parameters in the same file: not the key
        }
      }
      if (pkcs8 != null) {
        break;
      }
    }
    if (pkcs8 == null) {
      throw new BadFileException(Part.KEY, file + " holds no PEM private key (no BEGIN PRIVATE KEY line)",
          "key is the certificate's private key in PEM (PKCS#8)");
    }
    try {
      byte[] der = Base64.getMimeDecoder().decode(pkcs8);
      return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
    } catch (IllegalArgumentException | GeneralSecurityException e) {
      throw new BadFileException(Part.KEY, file + " is not a " + algorithm + " private key, as the certificate's key is"
          + " (" + e.getMessage() + ")", "use the key the certificate was issued for");
    }
  }

  /** Signs a fixed text with the private key and verifies it with the certificate's public key. */
  private static boolean belongTogether(PrivateKey privateKey, PublicKey publicKey) {
    String algorithm = switch (publicKey.getAlgorithm()) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      case "Ed25519", "Ed448", "EdDSA" -> publicKey.getAlgorithm();
      default -> null; // RSASSA-PSS and others: no plain signature to try; the handshake will tell
    };
    if (algorithm == null) {
      return true;
    }
    try {
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(privateKey);
      signer.update(PROOF);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(publicKey);
      verifier.update(PROOF);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }
}
