// Test program (fixture): does the JVM's default trust store trust https://HOST:PORT/?
// Prints the number of CAs the default trust manager holds, then OK <status> or
// REFUSED <reason>; exit 0 when trusted, 3 when the TLS handshake is refused.
import java.net.URI;
import java.net.HttpURLConnection;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class HttpsCheck {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        int cas = 0;
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager) {
                X509Certificate[] issuers = ((X509TrustManager) tm).getAcceptedIssuers();
                cas += issuers.length;
            }
        }
        System.out.println("trusted CAs: " + cas);
        HttpsURLConnection conn = (HttpsURLConnection) new URI(args[0]).toURL().openConnection();
        conn.setConnectTimeout(10000);
        conn.setReadTimeout(10000);
        try {
            System.out.println("OK " + conn.getResponseCode());
        } catch (SSLHandshakeException e) {
            System.out.println("REFUSED " + e.getMessage());
            System.exit(3);
        }
    }
}
