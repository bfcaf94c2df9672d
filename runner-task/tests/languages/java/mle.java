import java.util.ArrayList;

public class Main {
    public static void main(String[] args) {
        ArrayList<byte[]> keep = new ArrayList<>();
        while (true) keep.add(new byte[1 << 20]);
    }
}
