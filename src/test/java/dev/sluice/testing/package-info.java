/**
 * Integration-test harness: real peers on loopback.
 *
 * <ul>
 *   <li>{@link dev.sluice.testing.PostfixInstance}: a throwaway Postfix (smtpd, queue, Maildir,
 *       maillog) on a 127.0.0.0/8 address, with back pressure on demand;
 *   <li>{@link dev.sluice.testing.SmtpClients}: swaks, Python smtplib and Postfix smtp-source run
 *       as processes, with parsed outcomes;
 *   <li>{@link dev.sluice.testing.ExternalCommand}: process runner with a hard timeout.
 * </ul>
 *
 * <p>Tests using them are tagged {@code @Tag("integration")} and run by {@code ./test} (as root);
 * plain {@code mvn test} excludes them.
 */
package dev.sluice.testing;
